"""A benchmark row as its file holds it, typed from the file to every table, figure and card.

bench/rows.py writes one JSON file per row, results/<task>/rows/<row>.json; `load_row` reads it back as a
`BenchRow`. This is the one place that names each field, its type and its default: a key the type does not know
is an error naming the file (so a new field is added here once, and bench/rows.py checks every row against it
before writing), and every reader (seeds, report, tables, paper, figures, model cards, page) reads the fields,
not the file. The report fills in the paired comparisons (bench/report.py `paired_tests`); a line over several
training seeds is a BenchRow too (bench/seeds.py `combine`), with the seeds' spread filled in and what belongs to
one seed left empty.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from sftbench_common.errors import UserError


def derived():
    """A field only the report or a seeds line fills in, never one a row file holds."""
    return field(default=None, metadata={"derived": True})


@dataclass
class BenchRow:
    # what is measured (bench/rows.py Row)
    task: str
    model: str  # a model name, a baseline's name or an API model
    state: str  # base | fine-tuned | baseline | api
    method: str  # lora | qlora | full | lora-head for fine-tuned rows, else ""
    mode: str  # score | generate | head | baseline | lm | continuation
    task_kind: str = "classification"  # classification | domain
    kind: str = ""  # causal | encoder | baseline | api
    row_id: str | None = None  # None on a seeds line
    order: int = 0
    run: str | None = None  # the fine-tuned run's folder, as results/ shows it
    run_fingerprint: str | None = None
    overrides: dict = field(default_factory=dict)  # settings the run was trained with beyond the experiment's
    # what it was measured on
    records_fingerprint: str | None = None
    split: str | None = None
    split_hash: str | None = None
    examples: int = 0  # test records (domain: blocks) scored
    test_size: int = 0  # of the whole test split
    labels: list[str] = field(default_factory=list)
    device: str = ""
    precision: str | None = None
    # a run group's (sft/run_groups.py describe) and an in-context row's
    group: str | None = None
    seeds: list[int] | None = None  # the group's seeds; a row of one of them also has `seed`
    seed: int | None = None
    train_size: int | None = None  # a learning-curve point's train records
    whole_train: bool | None = None  # True: the point is the whole train split
    sweep: dict | None = None  # {"chosen": settings, "settings": [each setting's val scores], "metric": ...}
    not_chosen: bool = False  # a sweep's setting not chosen on val, measured with --all-settings
    shots: int | None = None
    demonstrations: list | None = None
    shared_trunk_layers: int | None = None  # layers of the base model's pass the row reused
    # a generate row answered from its score row's pass: answers read off the scores, not decoded
    answers_from_scores: int | None = None
    baseline_input: str | None = None  # what a baseline saw of each record
    # the measurement
    metrics: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)  # metric -> [low, high] (95%)
    correct: str | None = None  # "1"/"0" per test record: the paired tests' input
    predicted: list | None = None  # each test record's answer, in records.jsonl's order
    samples: list = field(default_factory=list)
    seconds: float | None = None  # a generate row answered from its score row's pass: only its work beyond it
    examples_per_s: float | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: int | None = None
    block_size: int | None = None  # domain text
    prompts: int | None = None  # domain text: continuation prompts
    # filled in by the report (bench/report.py paired_tests): the row compared with, the McNemar p, the difference
    base_row: BenchRow | None = derived()
    baseline_row: BenchRow | None = derived()
    fewshot_row: BenchRow | None = derived()
    p_vs_base: float | None = derived()
    p_vs_baseline: float | None = derived()
    p_vs_fewshot: float | None = derived()
    diff_vs_base: dict | None = derived()  # {"difference": ..., "interval": [low, high]}
    diff_vs_baseline: dict | None = derived()
    diff_vs_fewshot: dict | None = derived()
    # a line over several seeds (bench/seeds.py combine)
    seed_count: int | None = derived()
    seed_rows: list[str] | None = derived()
    accuracy_sd: float | None = derived()
    accuracy_min: float | None = derived()
    accuracy_max: float | None = derived()

    @property
    def accuracy(self) -> float:
        return self.metrics["accuracy"]

    @property
    def run_name(self) -> str | None:
        return self.run.rsplit("/", 1)[-1] if self.run else None

    @property
    def of_seeds(self) -> bool:
        """One seed's row of a setting trained at several seeds."""
        return len(self.seeds or []) >= 2


FILE_FIELDS = frozenset(f.name for f in fields(BenchRow) if not f.metadata.get("derived"))
REQUIRED = tuple(f.name for f in fields(BenchRow) if f.default is MISSING and f.default_factory is MISSING)


def check_fields(data: dict, origin: str | Path) -> None:
    """A row file's keys are the type's: an unknown key (a misspelling, a field added without its type) names the
    file and the key."""
    unknown = sorted(set(data) - FILE_FIELDS)
    if unknown:
        raise UserError(
            f"{origin}: unknown field(s) in a benchmark row: {', '.join(unknown)} (a row's fields are declared in "
            f"bench/row_file.py BenchRow)"
        )


def row_from(data: dict, origin: str | Path) -> BenchRow:
    check_fields(data, origin)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise UserError(f"{origin}: a benchmark row without {', '.join(missing)}")
    return BenchRow(**data)


def load_row(path: Path) -> BenchRow:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not a JSON row file ({error.msg}, line {error.lineno})") from error
    return row_from(data, path)
