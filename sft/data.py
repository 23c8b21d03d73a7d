"""The records a run trains on: the task's split (built first if needed), cut to the run's limits."""

from __future__ import annotations

from prompts.build import build_task, load_split
from prompts.sampling import select_train_records
from prompts.tasks import get_task, task_slug
from sft.config import TrainConfig


def prepare_data(config: TrainConfig) -> tuple[list[dict], list[dict], list[str]]:
    """Train and val records of the task and its label set."""
    meta = build_task(get_task(config.task, **config.task_options))
    slug = task_slug(config.task, config.task_options)
    train_records = select_train_records(
        load_split(slug, "train"), config.train_limit, config.train_sampling, config.seed
    )
    val_records = load_split(slug, "val")[: config.eval_limit]
    return train_records, val_records, meta["labels"]
