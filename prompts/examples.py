"""What a classification task is made of: examples (id, text, label) and the task that turns them into records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sftbench_common.errors import UserError


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str
    features: dict | None = field(default=None, compare=False, hash=False)  # raw columns, for tabular baselines
    split: str | None = field(default=None, compare=False, hash=False)  # train | val | test when the source says


@dataclass
class Task:
    name: str
    labels: tuple[str, ...]
    question: str  # what the model is asked; the answer options are appended
    source: str  # where the rows come from, for meta.json and the report
    loader: Callable[[], tuple[list[Example], str]] = field(repr=False)  # -> examples, source sha256
    options: dict = field(default_factory=dict)  # what shaped the examples (a user file's columns, ...)
    test_origin: str | None = None  # where the source's own test split comes from ("the official test split", ...)
    # how meta.json, tables and model cards name the source (default: `source`, which errors use): a user's
    # file by its name, never its absolute path
    published_source: str | None = None
    kind = "classification"

    @property
    def instruction(self) -> str:
        return f"{self.question} Answer with one word: {' or '.join(self.labels)}."

    def load(self) -> tuple[list[Example], str]:
        examples, checksum = self.loader()
        check_examples(examples, self.labels, self.source)
        return examples, checksum

    def record(self, example: Example) -> dict:
        """The Alpaca record every model trains and is benchmarked on."""
        record = {"id": example.id, "instruction": self.instruction, "input": example.text, "output": example.label}
        if example.features is not None:
            record["features"] = example.features
        return record


def check_examples(examples: list[Example], labels: tuple[str, ...], source: str) -> None:
    if not examples:
        raise UserError(f"{source}: no examples")
    if len(labels) < 2:
        raise UserError(
            f"{source}: only one label ({', '.join(labels) or 'none'}); a classification task needs at least two"
        )
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise UserError(f"{source}: duplicate id '{example.id}'")
        seen.add(example.id)
        if example.label not in labels:
            raise UserError(f"{source}: example '{example.id}': label '{example.label}' is not one of {list(labels)}")


def render_features(row: dict, columns: list[str]) -> str:
    """Tabular columns as text: 'Cap color: brown. Odor: none.'"""
    return " ".join(f"{column.replace('_', ' ').capitalize()}: {str(row[column]).strip()}." for column in columns)
