"""Benchmark every model of an experiment, base and fine-tuned, on each task's held-out test split.

    python -m bench.run --experiment default          # `make bench`
    python -m bench.run --experiment default --only mushroom --modes score
    python -m bench.run --experiment full --limit 0   # the whole test split

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

import argparse
import time
from dataclasses import dataclass

from bench.classification_rows import MODES, ClassificationJob, plan_classification_rows
from bench.domain_rows import DomainJob, plan_domain_rows
from bench.report import build_report
from bench.rows import run_rows
from common.errors import UserError, run_cli
from common.hardware import device_name
from common.paths import results_dir
from prompts.build import build_task, load_split
from prompts.fewshot import choose_demonstrations
from prompts.tasks import get_task, task_kind, task_slug
from sft.config import parse_overrides
from sft.experiment import Experiment, load_experiment
from sft.models import resolve_model
from sft.run_groups import RunGroup


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


def demonstrations_for(slug: str, labels: list[str], fewshot: list[int]) -> dict[int, list[dict]]:
    """k -> the task's k in-context demonstrations (the same for every model); fails before any row is written."""
    train, held_out = load_split(slug, "train"), load_split(slug, "val") + load_split(slug, "test")
    return {k: choose_demonstrations(train, held_out, labels, k) for k in fewshot if k > 0}


def classification_job(slug: str, meta: dict, groups: list[RunGroup], options: BenchOptions, fewshot: list[int]):
    test = load_split(slug, "test")
    records = test[: options.limit] if options.limit else test
    causal = any(resolve_model(g.base.model).kind == "causal" for g in groups)
    demonstrations = demonstrations_for(slug, meta["labels"], fewshot) if causal else {}
    job = ClassificationJob(
        records,
        len(test),
        load_split(slug, "train"),
        meta,
        device_name(options.device),
        options.batch_size,
        demonstrations,
    )
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
    )
    print(f"{slug}: {len(rows)} row(s) on {len(records)} of {len(test)} test records ({meta['split_origin']})")
    return job, rows


def domain_job(slug: str, meta: dict, groups: list[RunGroup], options: BenchOptions):
    texts = [r["text"] for r in load_split(slug, "test")]
    configs = [c for g in groups for c in (g.chosen_configs(results_dir()) or [])]
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
    rows = plan_domain_rows(slug, configs, meta["split_hash"], options.api_base, options.api_model)
    print(f"{slug}: {len(rows)} row(s) on the test documents ({len(texts)})")
    return job, rows


def bench_task(
    task: str, task_options: dict, groups: list[RunGroup], options: BenchOptions, fewshot: list[int] = (0,)
) -> int:
    """Every row of one task; returns how many were computed (the rest were already there)."""
    meta = build_task(get_task(task, **task_options))
    slug = task_slug(task, task_options)
    if task_kind(task) == "domain":
        job, rows = domain_job(slug, meta, groups, options)
    else:
        job, rows = classification_job(slug, meta, groups, options, list(fewshot))
    return run_rows(rows, job, results_dir() / slug, meta, options.force)


def bench_experiment(experiment: Experiment, options: BenchOptions, only: set[str] | None = None) -> int:
    """Every task of the experiment (or those in `only`), then the report; returns the rows computed. Every task's
    split and in-context demonstrations are prepared first, so bad input stops the bench before any row is
    written."""
    tasks = [(t, o) for t, o in experiment.tasks if not only or task_slug(t, o) in only]
    for task, task_options in tasks:
        meta = build_task(get_task(task, **task_options))
        if task_kind(task) == "classification":
            demonstrations_for(task_slug(task, task_options), meta["labels"], experiment.fewshot)
    return sum(
        bench_task(
            task, task_options, experiment.task_groups(task_slug(task, task_options)), options, experiment.fewshot
        )
        for task, task_options in tasks
    )


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    for mode in modes:
        if mode not in MODES:
            raise UserError(f"--modes: unknown mode '{mode}'; choose from {', '.join(MODES)}")
    return modes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="the same TrainConfig overrides `make train-all ARGS=...` trained with, e.g. lr=1e-4",
    )
    parser.add_argument("--experiment", default="default", help="name under configs/experiments/ or a YAML path")
    parser.add_argument("--only", help="benchmark only these tasks (comma-separated)")
    parser.add_argument(
        "--modes", help="generative modes: score,generate (default: the experiment's `modes`, else both)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="first N test records (default: the experiment's bench_limit; 0 = all)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    parser.add_argument("--force", action="store_true", help="recompute rows that are already there")
    parser.add_argument(
        "--all-settings",
        action="store_true",
        help="also measure on test the sweep settings that were not chosen on val (marked 'not chosen'; the "
        "chosen row is what a report should quote)",
    )
    domain = parser.add_argument_group("domain-text tasks (perplexity, BLEU/chrF of continuations)")
    domain.add_argument("--prompts", type=int, default=32, help="held-out prompts to continue (default 32)")
    domain.add_argument("--api-base", help="also score an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    domain.add_argument("--api-model", default="default", help="model name sent to --api-base")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    experiment = load_experiment(args.experiment, parse_overrides(args.overrides))
    experiment.use_results_folder()
    options = BenchOptions(
        modes=parse_modes(args.modes) if args.modes else tuple(experiment.modes or MODES),
        limit=experiment.bench_limit if args.limit is None else args.limit,
        batch_size=args.batch_size,
        device=args.device,
        baselines=not args.no_baselines,
        force=args.force,
        prompts=args.prompts,
        api_base=args.api_base,
        api_model=args.api_model,
        all_settings=args.all_settings,
    )
    only = {t.strip() for t in args.only.split(",")} if args.only else None
    started = time.time()
    computed = bench_experiment(experiment, options, only)
    report = build_report()
    print(f"bench '{experiment.name}': {computed} row(s) computed in {time.time() - started:.0f} s; report: {report}")
    return 0


if __name__ == "__main__":
    run_cli(main)
