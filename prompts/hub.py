"""Any classification dataset on the Hugging Face Hub: `hub:OWNER/NAME` (needs a network once).

    sftbench data hub:dair-ai/emotion
    sftbench train task=hub:SetFit/sst2 task_options.text_column=text task_options.label_column=label

Options: `config` (the dataset's configuration), `text_column` or `feature_columns`, `label_column`,
`label_names` (our names for a ClassLabel's ids), `question`, `name`. Label names come from the
dataset's ClassLabel feature when it has one, else the sorted string labels. The dataset's own `test`
split is the benchmark's test split and its `validation` split the val split (else a seeded slice of
train): scores are comparable with other tools and leaderboards on the same split.
`ag_news`, `tweet_eval` and `imdb` are named entries of this mechanism. A local folder written by
`datasets`' save_to_disk works the same way (`hub:path/to/folder`), and SFTBENCH_HUB_MIRROR=<dir>
reads a named task from <dir>/<task>/<split>.jsonl in the Hub's column layout (both offline, for tests).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from prompts.examples import Example, Task, render_features
from sftbench_common.errors import UserError
from sftbench_common.fileio import sha256_bytes

SPLIT_NAMES = {"train": ("train",), "val": ("validation", "valid", "dev", "val"), "test": ("test",)}

HUB_TASKS = {  # name -> (dataset, options)
    "ag_news": (
        "fancyzhx/ag_news",
        {
            "label_names": ["world", "sports", "business", "sci/tech"],
            "question": "What is the topic of this news article?",
        },
    ),
    "tweet_eval": (
        "cardiffnlp/tweet_eval",
        {
            "config": "sentiment",
            "label_names": ["negative", "neutral", "positive"],
            "question": "What is the sentiment of this tweet?",
        },
    ),
    "imdb": (
        "stanfordnlp/imdb",
        {"label_names": ["negative", "positive"], "question": "Is this movie review positive or negative?"},
    ),
}


@dataclass
class HubOptions:
    config: str | None = None
    text_column: str | None = "text"
    feature_columns: list[str] | None = None
    label_column: str = "label"
    label_names: list[str] | None = None  # our names for ClassLabel ids 0..n-1 (default: the ClassLabel's own)
    question: str = "Classify the following input."
    name: str | None = None


def _load_splits(dataset: str, options: HubOptions, mirror_name: str | None) -> dict:
    """split name -> datasets.Dataset, from the Hub, a save_to_disk folder, or the test mirror."""
    import datasets  # 1 s to import, and only Hub tasks need it

    mirror = os.environ.get("SFTBENCH_HUB_MIRROR")
    local = Path(dataset).expanduser()
    try:
        if mirror and mirror_name:
            files = {p.stem: str(p) for p in sorted((Path(mirror) / mirror_name).glob("*.jsonl"))}
            loaded = datasets.load_dataset("json", data_files=files)
        elif local.is_dir():
            loaded = datasets.load_from_disk(str(local))
        else:
            loaded = datasets.load_dataset(dataset, options.config)
    except (ConnectionError, OSError, ValueError) as err:  # datasets raises these offline
        raise UserError(
            f"dataset '{dataset}' is read from the Hugging Face Hub, which is unreachable or does not "
            f"have it ({type(err).__name__}); run it with a network, or use an offline task "
            f"(`sftbench data --help` lists them)"
        ) from None
    if isinstance(loaded, datasets.Dataset):
        return {"all": loaded}
    return dict(loaded)


def _our_split(hub_split: str) -> str | None:
    return next((ours for ours, names in SPLIT_NAMES.items() if hub_split in names), None)


def _label_names(splits: dict, options: HubOptions, dataset: str) -> tuple[list[str] | None, list[str]]:
    """(ClassLabel names to map integer labels through, or None; the task's label set)."""
    first = next(iter(splits.values()))
    if options.label_column not in first.features:
        raise UserError(
            f"dataset '{dataset}': field '{options.label_column}' missing (present: {', '.join(first.features)})"
        )
    feature = first.features[options.label_column]
    if hasattr(feature, "names"):  # a ClassLabel
        names = list(options.label_names or feature.names)
        if len(names) != len(feature.names):
            raise UserError(
                f"dataset '{dataset}': label_names has {len(names)} names for {len(feature.names)} "
                f"classes ({feature.names})"
            )
        return names, names
    if options.label_names:
        return list(options.label_names), list(options.label_names)
    found = {str(value).strip() for split in splits.values() for value in split[options.label_column]}
    return None, sorted(found)


def hub_examples(dataset: str, options: HubOptions, name: str, mirror_name: str | None):
    splits = _load_splits(dataset, options, mirror_name)
    id_names, labels = _label_names(splits, options, dataset)
    text_fields = [options.text_column] if not options.feature_columns else list(options.feature_columns)
    examples = []
    for hub_split, rows in splits.items():
        ours = None if hub_split == "all" else _our_split(hub_split)
        if ours is None and hub_split != "all":
            continue  # e.g. IMDB's unlabelled "unsupervised" split
        for column in text_fields:
            if column not in rows.features:
                raise UserError(
                    f"dataset '{dataset}', split '{hub_split}': field '{column}' missing "
                    f"(present: {', '.join(rows.features)})"
                )
        for i, row in enumerate(rows):
            value = row[options.label_column]
            if id_names is not None:
                if not isinstance(value, int) or not 0 <= value < len(id_names):
                    continue  # -1 marks an unlabelled row
                label = id_names[value]
            else:
                label = str(value).strip()
            text = (
                str(row[text_fields[0]]).strip() if not options.feature_columns else render_features(row, text_fields)
            )
            features = {c: str(row[c]) for c in text_fields} if options.feature_columns else None
            examples.append(Example(f"{name}-{hub_split}-{i:06d}", text, label, features, ours))
    digest = sha256_bytes("\n".join(f"{e.id}\t{e.split}\t{e.label}\t{e.text}" for e in examples).encode())
    return examples, digest, labels


def hub_task(spec: str, options: dict) -> Task:
    """`hub:OWNER/NAME` (or a local save_to_disk folder), or a named entry of HUB_TASKS."""
    if spec in HUB_TASKS:
        dataset, defaults = HUB_TASKS[spec]
        options, mirror_name = {**defaults, "name": spec, **options}, spec
    else:
        dataset, mirror_name = spec.partition(":")[2], None
    unknown = set(options) - {f.name for f in dataclasses.fields(HubOptions)}
    if unknown:
        raise UserError(
            f"task '{spec}': unknown option(s) {sorted(unknown)}; "
            f"valid: {sorted(f.name for f in dataclasses.fields(HubOptions))}"
        )
    opts = HubOptions(**options)
    if isinstance(opts.feature_columns, str):
        opts.feature_columns = [c.strip() for c in opts.feature_columns.split(",") if c.strip()]
    name = opts.name or Path(dataset.rstrip("/")).name
    if opts.label_names:
        labels = list(opts.label_names)
    else:  # declared by the data: read the label column once (datasets caches what it loaded)
        labels = _label_names(_load_splits(dataset, opts, mirror_name), opts, dataset)[1]

    def load():
        examples, digest, _ = hub_examples(dataset, opts, name, mirror_name)
        return examples, digest

    return Task(
        name,
        tuple(labels),
        opts.question,
        f"Hugging Face dataset {dataset}",
        load,
        dataclasses.asdict(opts),
        f"the official test split of {dataset}",
    )
