"""The one benchmark-row pipeline, for every task kind: plan rows, skip finished ones, compute, write.

A row is one model (or baseline, or API model) in one state and mode on one task's test inputs. Each row
writes results/<task>/predictions/<row>.jsonl, then results/<task>/rows/<row>.json: its metrics, written
last and atomically, so a row file means a finished row. The file's fields are declared in bench/row_file.py
(BenchRow, what every reader gets back); a row is checked against them before it is written. A row already
there for the same test inputs and the same trained run is skipped, so an interrupted benchmark resumes; `force`
recomputes.

A task kind plugs in a job (bench/classification_rows.py, bench/domain_rows.py) with `device` and:
    inputs_fingerprint(row) -> str   what the row is measured on
    compute(row) -> dict             metrics, timings, predictions (a list) and samples
    context(row) -> dict             fields every row file of the kind carries (sizes, labels, device, precision)
    describe(result) -> str          the one-line summary printed when the row is done
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.row_file import check_fields, load_row
from sft import run_folders
from sft.config import TrainConfig, to_yaml
from sftbench_common import locks, processes
from sftbench_common.fileio import atomic_write_json, atomic_write_jsonl
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)


@dataclass
class Row:
    row_id: str
    task: str
    model: str  # what is measured: a model name, a baseline's name or an API model
    state: str  # base | fine-tuned | baseline | api
    method: str  # lora | qlora | full | lora-head for fine-tuned rows, else ""
    mode: str  # score | generate | head | baseline | lm | continuation
    kind: str  # causal | encoder | baseline | api
    order: int
    run_dir: Path | None = None
    source: str | None = None  # what produced the model: a run's fingerprint, an API endpoint; None if fixed
    overrides: dict | None = None  # settings the run was trained with beyond the experiment's config
    # written into the row file as is: shots (in-context rows), seed, group, seeds, train_size, sweep, not_chosen
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        shots = f", {self.extra['shots']}-shot" if self.extra.get("shots") else ""
        size = f" (n={self.extra['train_size']})" if self.extra.get("train_size") else ""
        if self.state == "baseline":
            return self.model + size
        return f"{self.model} {self.state}{shots}" + (f" [{self.run_dir.name}]" if self.run_dir else "")


class RowJob(Protocol):
    task_kind: str
    device: str

    def inputs_fingerprint(self, row: Row) -> str: ...
    def compute(self, row: Row) -> dict: ...
    def context(self, row: Row) -> dict: ...
    def describe(self, result: dict) -> str: ...


def trained_runs(
    slug: str, configs: list[TrainConfig], split_hash: str, root: Path | None = None
) -> list[tuple[TrainConfig, Path | None, dict]]:
    """Each config with its finished run's folder under the results folder `root` and the settings that run was
    trained with beyond the experiment's (a run's own config.yaml is the truth: trained with overrides, it is
    still benchmarked). The folder is None, with a note, for a run that is missing, unfinished or trained on an
    older split."""
    root = root or results_dir()
    found = []
    for config in configs:
        run_dir = config.run_dir(root)
        state = run_folders.status(run_dir, to_yaml(config), split_hash)
        if state == "interrupted" and (who := locks.holder(run_dir, root)) is not None:
            log.info(f"  {slug}: {run_dir.name} is still training ({who}), not benchmarked")
            found.append((config, None, {}))
            continue
        if state in ("new", "interrupted", "stale"):
            why = "trained on an older split of the task" if state == "stale" else state
            log.info(f"  {slug}: {run_dir.name} is {why}, not benchmarked (run `make train-all` first)")
            found.append((config, None, {}))
            continue
        overrides = run_folders.overrides(run_dir, to_yaml(config)) if state == "changed" else {}
        if overrides:
            log.info(f"  {slug}: {run_dir.name} was trained with {format_overrides(overrides)}; benchmarking that run")
        found.append((config, run_dir, overrides))
    return found


def format_overrides(overrides: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in overrides.items())


def set_aside_stale_rows(out: Path, split_hash: str) -> int:
    """Move row files measured on an older split of the task to rows/stale/ (kept, but out of every table)."""
    stale = [p for p in sorted((out / "rows").glob("*.json")) if load_row(p).split_hash != split_hash]
    for path in stale:
        (out / "rows" / "stale").mkdir(parents=True, exist_ok=True)
        os.replace(path, out / "rows" / "stale" / path.name)
    if stale:
        log.info(
            f"  {len(stale)} row(s) were measured on an older split of the task: moved to {out / 'rows' / 'stale'}"
        )
    return len(stale)


def already_done(row_path: Path, inputs_print: str, source: str | None) -> bool:
    if not row_path.is_file():
        return False
    saved = load_row(row_path)
    return saved.records_fingerprint == inputs_print and saved.run_fingerprint == source


def keep_place(row_path: Path, order: int) -> None:
    """A row kept from an earlier bench takes its place in today's plan (an experiment that gained a run
    puts the new rows first), so the tables list a task's rows in the same order however they were made."""
    saved = json.loads(row_path.read_text())
    if saved.get("order") != order:
        atomic_write_json(row_path, {**saved, "order": order})


SPLIT_FIELDS = ("task", "split_origin", "split_hash", "duplicates_dropped", "overlap_dropped", "near_duplicates")


def write_split_description(out: Path, meta: dict) -> None:
    """results/<task>/split.json: how the split the rows were measured on was made (the report's heading says
    it), without the split key's options, which can hold a user's paths."""
    description = {name: meta[name] for name in SPLIT_FIELDS if name in meta}
    if not (out / "split.json").is_file() or json.loads((out / "split.json").read_text()) != description:
        atomic_write_json(out / "split.json", description)


def run_rows(rows: list[Row], job: RowJob, out: Path, meta: dict, force: bool = False) -> int:
    """Set aside rows of an older split of the task (meta.json's `meta`), then compute and write every row that
    is not already there, each recording the split it was measured on; returns how many were computed. Under
    several processes (a launcher) every process computes its share of each row, and the main one alone writes."""
    main, cpu = processes.is_main_process(), job.device == "cpu"
    if main:
        set_aside_stale_rows(out, meta["split_hash"])
        write_split_description(out, meta)
    processes.wait_for_everyone(cpu)
    computed = 0
    for row in rows:
        row_path = out / "rows" / f"{row.row_id}.json"
        inputs_print = job.inputs_fingerprint(row)
        name = f"{row.label} ({row.mode})"
        if not force and already_done(row_path, inputs_print, row.source):
            log.info(f"  [done] {name}")
            if main:
                keep_place(row_path, row.order)
            continue
        log.info(f"  [....] {name}")
        result = job.compute(row)
        computed += 1
        if not main:
            continue
        atomic_write_jsonl(out / "predictions" / f"{row.row_id}.jsonl", result.pop("predictions"))
        fields = {
            "row_id": row.row_id,
            "task": row.task,
            "task_kind": job.task_kind,
            "model": row.model,
            "state": row.state,
            "method": row.method,
            "mode": row.mode,
            "kind": row.kind,
            "order": row.order,
            "run": run_folders.display_path(row.run_dir),
            "run_fingerprint": row.source,
            "overrides": row.overrides or {},
            "records_fingerprint": inputs_print,
            "split": meta["split_origin"],
            "split_hash": meta["split_hash"],
            **row.extra,
            **job.context(row),
            **result,
        }
        check_fields(fields, row_path)  # every field a row file holds is declared in bench/row_file.py
        atomic_write_json(row_path, fields)
        log.info(f"  [ ok ] {name}: {job.describe(result)}")
    processes.wait_for_everyone(cpu)
    return computed
