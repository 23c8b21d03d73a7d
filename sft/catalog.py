"""What a user can name: models, tasks, presets and experiments (`sftbench list`), from the registries themselves,
so a name printed here or in any help text is one the code accepts."""

from __future__ import annotations

from prompts.domain import DOMAIN_TASKS
from prompts.hub import HUB_TASKS
from prompts.tasks import OFFLINE_TASKS
from sft.config import PRESETS_DIR
from sft.models import PACKAGED
from sftbench_common.paths import REPO_ROOT

# Hub models the docs and presets name; any other causal LM or sequence-classification model id works the same way
HUB_MODEL_EXAMPLES = {
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": "causal LM, chat template (the tweet QLoRA recipe's model)",
    "openai-community/gpt2": "causal LM, no chat template",
    "distilbert/distilbert-base-uncased": "encoder (sequence classification)",
}
FILE_TASKS = {
    "csv:PATH": "your CSV file: task_options.text_column=COL (or feature_columns), label_column (default label)",
    "jsonl:PATH": "your JSONL file, the same options",
    "hub:OWNER/NAME": "a Hugging Face dataset (network), the same options plus config",
    "domain:PATH": "a folder of text files or a JSONL with a text column: causal-LM fine-tuning, judged by perplexity",
}


def first_comment(path) -> str:
    """The first sentence of a YAML file's opening comment: what the presets and experiments say they are."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    return text[: text.index(". ") + 1] if ". " in text else text


def models() -> list[tuple[str, str]]:
    offline = [(n, f"{m.kind}, {m.hub_id}, offline from PyPI {m.package.split()[0]}") for n, m in PACKAGED.items()]
    return offline + [(name, f"{about} (needs the Hub)") for name, about in HUB_MODEL_EXAMPLES.items()]


def tasks() -> list[tuple[str, str]]:
    offline = [(name, f"{' / '.join(make().labels)}: {make().source}") for name, make in OFFLINE_TASKS.items()]
    hub = [(name, f"{dataset} (needs the Hub)") for name, (dataset, _) in HUB_TASKS.items()]
    domain = [(name, f"domain text: {make().source}") for name, make in DOMAIN_TASKS.items()]
    return offline + hub + domain + list(FILE_TASKS.items())


def presets() -> list[tuple[str, str]]:
    return [(path.stem, first_comment(path)) for path in sorted(PRESETS_DIR.glob("*.yaml"))]


def experiments() -> list[tuple[str, str]]:
    return [(path.stem, first_comment(path)) for path in sorted((REPO_ROOT / "configs" / "experiments").glob("*.yaml"))]


CATALOG = {"models": models, "tasks": tasks, "presets": presets, "experiments": experiments}
