"""Classification datasets read from the Hugging Face Hub with `datasets.load_dataset` (needs a network).

SFTBENCH_HUB_MIRROR=<dir> reads <dir>/<task>/<split>.jsonl in the Hub's own column layout instead (tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError
from common.fileio import sha256_bytes
from prompts.examples import Example, Task


@dataclass(frozen=True)
class HubSource:
    path: str
    config: str | None
    text_column: str
    label_column: str
    label_names: tuple[str, ...]  # our label for the Hub's integer label i
    splits: tuple[str, ...]


HUB_SOURCES = {
    "ag_news": HubSource(
        "fancyzhx/ag_news", None, "text", "label", ("world", "sports", "business", "sci/tech"), ("train", "test")
    ),
    "tweet_eval": HubSource(
        "cardiffnlp/tweet_eval",
        "sentiment",
        "text",
        "label",
        ("negative", "neutral", "positive"),
        ("train", "validation", "test"),
    ),
    "imdb": HubSource("stanfordnlp/imdb", None, "text", "label", ("negative", "positive"), ("train", "test")),
}


def _hub_loader(name: str, hub: HubSource) -> Callable[[], tuple[list[Example], str]]:
    def load() -> tuple[list[Example], str]:
        import datasets  # 2 s to import, and only Hub tasks need it

        mirror = os.environ.get("SFTBENCH_HUB_MIRROR")
        examples: list[Example] = []
        for split in hub.splits:
            try:
                if mirror:
                    rows = datasets.load_dataset(
                        "json", data_files=str(Path(mirror) / name / f"{split}.jsonl"), split="train"
                    )
                else:
                    rows = datasets.load_dataset(hub.path, hub.config, split=split)
            except (ConnectionError, OSError, ValueError) as err:  # datasets raises these offline
                raise UserError(
                    f"task '{name}' reads {hub.path} from the Hugging Face Hub, which is unreachable "
                    f"({type(err).__name__}); run it with a network, or use an offline task "
                    f"(`python -m prompts.build --help` lists them)"
                ) from None
            for i, row in enumerate(rows):
                label_id = row[hub.label_column]
                if not 0 <= label_id < len(hub.label_names):
                    continue  # e.g. IMDB's unlabelled split uses -1
                examples.append(
                    Example(f"{name}-{split}-{i:06d}", str(row[hub.text_column]).strip(), hub.label_names[label_id])
                )
        digest = sha256_bytes("\n".join(f"{e.id}\t{e.label}\t{e.text}" for e in examples).encode())
        return examples, digest

    return load


QUESTIONS = {
    "ag_news": "What is the topic of this news article?",
    "tweet_eval": "What is the sentiment of this tweet?",
    "imdb": "Is this movie review positive or negative?",
}


def hub_task(name: str) -> Task:
    hub = HUB_SOURCES[name]
    return Task(name, hub.label_names, QUESTIONS[name], f"Hugging Face Hub {hub.path}", _hub_loader(name, hub))
