"""Benchmark every model of an experiment, base and fine-tuned, on each task's held-out test split.

    sftbench bench --experiment default          # `make bench`
    sftbench bench --experiment default --tasks mushroom --modes score
    sftbench bench --experiment full --limit 0   # the whole test split

Classification tasks (bench/classification_rows.py): every generative model in `score` mode (labels
ranked by log-likelihood) and `generate` mode (greedy answer + parser), as the base model and as each
finished fine-tuned run; encoders and lora-head runs by their classifier head; classical baselines.
Domain-text tasks (bench/domain_rows.py): perplexity on the test blocks and BLEU/chrF of greedy
continuations, base vs fine-tuned, plus an optional API model (--api-base).

With `fewshot: [0, 4]` in the experiment, every base generative model also answers with 4 in-context
demonstrations from the train split (prompts/fewshot.py). Runs with seeds are one row each (the report
shows their mean and spread); a sweep's chosen setting alone is measured on test (--all-settings: the
others too, marked); a learning curve's baselines also train on each of its sizes.

Every row goes through one pipeline (bench/rows.py): a finished row is skipped, so an interrupted
benchmark resumes (--force recomputes). Finally the report (bench/report.py) is rebuilt from the row
files alone.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.classification_rows import MODES, ClassificationJob, answer_key, plan_classification_rows
from bench.domain_rows import DomainJob, plan_domain_rows
from bench.row_file import load_row
from bench.rows import Row, run_rows
from prompts.build import build_task, load_split
from prompts.fewshot import choose_demonstrations
from prompts.tasks import get_task, task_kind, task_slug
from sft.executors import ClusterOptions, Outcome, Work, run_units
from sft.experiment import Experiment
from sft.models import resolve_model
from sft.plan import packed_seconds, planned_kind
from sft.run_groups import RunGroup
from sft.trunk import adapter_boundary
from sftbench_common import locks, processes
from sftbench_common.errors import UserError, moved_to
from sftbench_common.fileio import atomic_write_jsonl, read_jsonl
from sftbench_common.hardware import device_name
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)


@dataclass
class BenchOptions:
    modes: tuple[str, ...] = MODES
    limit: int | None = None  # first N test records (blocks) of each task; None or 0: all
    batch_size: int = 16
    device: str = "auto"
    baselines: bool = True
    force: bool = False
    prompts: int = 32  # domain text: held-out prompts to continue
    api_base: str | None = None
    api_model: str = "default"
    all_settings: bool = False  # also benchmark a sweep's settings that were not chosen (marked so)
    shared_trunk: bool = True  # score rows of models adapted above a layer share the base model's pass below it


def demonstrations_for(slug: str, labels: list[str], fewshot: list[int]) -> dict[int, list[dict]]:
    """k -> the task's k in-context demonstrations (the same for every model); fails before any row is written."""
    train, held_out = load_split(slug, "train"), load_split(slug, "val") + load_split(slug, "test")
    return {k: choose_demonstrations(train, held_out, labels, k) for k in fewshot if k > 0}


def generate_too(rows: list[Row]) -> set[tuple]:
    """The score rows whose pass over the prompts also gives a generate row's answers: each model, run and set of
    demonstrations measured in both modes."""
    modes: dict[tuple, set[str]] = {}
    for row in rows:
        if row.kind == "causal" and row.mode in ("score", "generate"):
            modes.setdefault(answer_key(row), set()).add(row.mode)
    return {key for key, found in modes.items() if found == {"score", "generate"}}


def shared_trunk(rows: list[Row]) -> dict[str, int]:
    """Model -> the boundary below which its score rows share one trunk pass: the lowest layer any of its
    fine-tuned runs changed, where that is above layer 0 (sft/trunk.py adapter_boundary)."""
    boundaries: dict[str, int] = {}
    for row in rows:
        if row.state == "fine-tuned" and row.mode == "score" and row.kind == "causal":
            boundary = adapter_boundary(row.run_dir)
            if boundary > 0:
                boundaries[row.model] = min(boundary, boundaries.get(row.model, boundary))
    return boundaries


def classification_job(
    slug: str, meta: dict, groups: list[RunGroup], options: BenchOptions, fewshot: list[int], root: Path
):
    test = load_split(slug, "test")
    records = test[: options.limit] if options.limit else test
    causal = any(resolve_model(g.base.model).kind == "causal" for g in groups)
    demonstrations = demonstrations_for(slug, meta["labels"], fewshot) if causal else {}
    rows = plan_classification_rows(
        slug,
        groups,
        meta["split_hash"],
        options.modes,
        options.baselines,
        records,
        meta["labels"],
        fewshot,
        options.all_settings,
        root,
    )
    job = ClassificationJob(
        records,
        len(test),
        load_split(slug, "train"),
        meta,
        device_name(options.device),
        options.batch_size,
        demonstrations,
        shared_trunk(rows) if options.shared_trunk else {},
        generate_too(rows) if options.shared_trunk else set(),
    )
    log.info(f"{slug}: {len(rows)} row(s) on {len(records)} of {len(test)} test records ({meta['split_origin']})")
    return job, rows


def domain_job(slug: str, meta: dict, groups: list[RunGroup], options: BenchOptions, root: Path):
    texts = [r["text"] for r in load_split(slug, "test")]
    configs = [c for g in groups for c in (g.chosen_configs(root) or [])]
    job = DomainJob(
        texts,
        configs,
        options.limit,
        options.prompts,
        device_name(options.device),
        options.batch_size,
        options.api_base,
        options.api_model,
    )
    rows = plan_domain_rows(slug, configs, meta["split_hash"], options.api_base, options.api_model, root)
    log.info(f"{slug}: {len(rows)} row(s) on the test documents ({len(texts)})")
    return job, rows


def write_records(out: Path, records: list[dict]) -> None:
    """results/<task>/records.jsonl: the test records the rows were measured on (id, text, gold label), in their
    order, so the results page shows each record from the results folder alone."""
    lines = [{"id": r["id"], "input": r["input"], "output": r["output"]} for r in records]
    path = out / "records.jsonl"
    if not path.is_file() or read_jsonl(path) != lines:
        atomic_write_jsonl(path, lines)


def bench_task(
    task: str,
    task_options: dict,
    groups: list[RunGroup],
    options: BenchOptions,
    fewshot: list[int] = (0,),
    root: Path | None = None,
) -> int:
    """Every row of one task, into the results folder `root`; returns how many were computed (the rest were
    already there)."""
    root = root or results_dir()
    meta = build_task(get_task(task, **task_options))
    slug = task_slug(task, task_options)
    if task_kind(task) == "domain":
        job, rows = domain_job(slug, meta, groups, options, root)
    else:
        job, rows = classification_job(slug, meta, groups, options, list(fewshot), root)
    out = root / slug
    if task_kind(task) == "classification" and processes.is_main_process():
        write_records(out, job.records)
    return run_rows(rows, job, out, meta, options.force)


def bench_experiment(
    experiment: Experiment, options: BenchOptions, only: set[str] | None = None, cluster: ClusterOptions | None = None
) -> list[Outcome]:
    """Every task of the experiment (or those in `only`), each a unit of work on the executor `cluster` names
    (here, one after another, by default): all of a task's rows on one worker, so they share the model loads, the
    prompt passes and the frozen trunk. Returns each task's outcome (its `result`: the rows it computed); a task
    that fails is reported and the others go on (sft/executors.py). Every task's split and in-context
    demonstrations are prepared first, here, so bad input stops the bench before any row is written."""
    tasks = [(t, o) for t, o in experiment.tasks if not only or task_slug(t, o) in only]
    for task, task_options in tasks:
        meta = build_task(get_task(task, **task_options))
        if task_kind(task) == "classification":
            demonstrations_for(task_slug(task, task_options), meta["labels"], experiment.fewshot)
    # one bench writing a results folder's rows at a time (a second `make bench`, a notebook cell run twice)
    root = experiment.root
    works = [
        Work(slug, bench_task, (task, task_options, experiment.task_groups(slug), options, experiment.fewshot, root))
        for task, task_options in tasks
        for slug in [task_slug(task, task_options)]
    ]
    held = contextlib.nullcontext()  # the processes of one launch are one bench: the main one holds the lock
    if processes.is_main_process():
        held = locks.exclusive(root, "bench of this results folder", "wait for it to finish or stop it", root)
    with held:
        return run_units(works, cluster or ClusterOptions(), root)


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    for mode in modes:
        if mode not in MODES:
            raise UserError(f"--modes: unknown mode '{mode}'; choose from {', '.join(MODES)}")
    return modes


if __name__ == "__main__":
    moved_to("sftbench bench")


def scoring_rates(roots: list[Path]) -> dict[tuple, float]:
    """(task, model, state, mode, shots) and (model, state, mode, shots) -> test examples per second, from the row
    files under the results folders (what this machine, or the one that wrote them, measured)."""
    rates: dict[tuple, list[float]] = {}
    for root in roots:
        for path in root.glob("*/rows/*.json"):
            row = load_row(path)
            if row.task_kind != "classification" or not row.examples_per_s:
                continue
            shape = (row.model, row.state, row.mode, row.shots or 0)
            for key in ((row.task, *shape), shape):
                rates.setdefault(key, []).append(row.examples_per_s)
    return {key: statistics.median(values) for key, values in rates.items()}


def plan_bench(experiment: Experiment, options: BenchOptions, workers: list[int]) -> dict[str, float | None]:
    """Log each task's estimated bench time, row by row from the scoring rates the results folders hold (the same
    task's where it has one, else the same model, state and mode on another task), and the wall time on N
    workers (bench --executor ray|slurm: each task on one worker); returns task -> seconds (None: a row has no
    rate yet). Models are not loaded and nothing is scored."""
    # this results folder's own rows first; the folders under it (results/study/, ...) where it has no rate
    others = scoring_rates([p.parent for p in experiment.root.glob("*/results.md")])
    rates = {**others, **scoring_rates([experiment.root])}
    estimates: dict[str, float | None] = {}
    for task, task_options in experiment.tasks:
        if task_kind(task) != "classification":
            continue
        slug = task_slug(task, task_options)
        meta = build_task(get_task(task, **task_options))
        test = load_split(slug, "test")
        records = test[: options.limit] if options.limit else test
        planned = plan_classification_rows(
            slug, experiment.task_groups(slug), meta["split_hash"], options.modes, options.baselines, records,
            meta["labels"], experiment.fewshot, options.all_settings, experiment.root, planned_kind,
        )  # fmt: skip
        seconds, unknown = 0.0, []
        for row in planned:
            shape = (row.model, row.state, row.mode, row.extra.get("shots", 0))
            rate = rates.get((slug, *shape)) or rates.get(shape)
            if rate:
                seconds += len(records) / rate
            else:
                unknown.append(f"{row.model} {row.state} {row.mode}")
        estimates[slug] = None if unknown else seconds
        left = f"; no rate yet for {', '.join(sorted(set(unknown)))}" if unknown else ""
        log.info(f"  bench {slug}: {len(planned)} row(s) on {len(records)} records, about {seconds:.0f} s{left}")
    known = [s for s in estimates.values() if s is not None]
    missing = len(estimates) - len(known)
    for count in workers:
        about = "at least" if missing else "about"
        left = f", leaving out {missing} task(s) with rows not timed yet" if missing else ""
        seconds = packed_seconds(known, count)
        log.info(f"  bench on {count} worker(s): {about} {seconds:.0f} s (each task on one worker{left})")
    return estimates
