"""`sftbench`: one command for every job, from data to the paper.

Every subcommand takes the same overrides: `key=value` for any config key (sft/config.py TrainConfig),
`task_options.KEY=VALUE` for a user file's columns, `trainer_args.KEY=VALUE` for any SFTConfig /
TrainingArguments field, `lora_args.KEY=VALUE` for any LoraConfig field; flags (`--experiment`, `--force`)
for what is not a config key. `-q` / `-v` / `--debug` work before or after the subcommand.

The heavy libraries (torch, transformers, datasets) load inside each command, after its options are read,
so `sftbench --help` answers at once and the logging set-up reaches them before they start.
"""

from __future__ import annotations

import difflib
import json
import logging
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import click

from sft.executor_names import EXECUTORS, SUBMITIT_CLUSTERS
from sftbench_common.errors import UserError, errors_reported
from sftbench_common.logs import NORMAL, QUIET, VERBOSE, command_logging

SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
EXPERIMENT_HELP = "an experiment: a name under configs/experiments/ (default, study, full, ...) or a YAML path"


def verbosity(quiet: bool, verbose: bool) -> int:
    return QUIET if quiet else VERBOSE if verbose else NORMAL


class Job(click.Command):
    """A subcommand: -q/-v/--debug are its options too, logging is set up before it runs, and a UserError
    becomes one `error: ...` line with exit code 2."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params += [
            click.Option(["-q", "--quiet"], is_flag=True, help="warnings and errors only"),
            click.Option(["-v", "--verbose"], is_flag=True, help="also debug lines and the libraries' own warnings"),
            click.Option(["--debug"], is_flag=True, help="show the traceback of an input error"),
        ]

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(limit=88)

    def invoke(self, ctx):
        group = ctx.obj or {}
        quiet = ctx.params.pop("quiet") or group.get("quiet", False)
        verbose = ctx.params.pop("verbose") or group.get("verbose", False)
        debug = ctx.params.pop("debug") or group.get("debug", False)
        with command_logging(verbosity(quiet, verbose)), errors_reported(debug):
            return super().invoke(ctx)


class Jobs(click.Group):
    command_class = Job

    def list_commands(self, ctx):
        return list(self.commands)  # in the order of the work, not alphabetical

    def resolve_command(self, ctx, args):
        """An unknown subcommand gets the nearest one as a suggestion."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            close = difflib.get_close_matches(args[0], self.list_commands(ctx), n=1) if args else []
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise click.UsageError(f"no command '{args[0]}'{hint} (sftbench --help lists them)", ctx) from None


@click.group(cls=Jobs, context_settings=SETTINGS)
@click.option("-q", "--quiet", is_flag=True, help="warnings and errors only")
@click.option("-v", "--verbose", is_flag=True, help="also debug lines and the libraries' own warnings")
@click.option("--debug", is_flag=True, help="show the traceback of an input error")
@click.version_option(package_name="sftbench")
@click.pass_context
def cli(ctx, quiet, verbose, debug):
    """Fine-tune small language models on classification data and benchmark them, base and fine-tuned.

    \b
    The two commands of a whole study (offline, CPU or GPU):
      sftbench train-all                 train every unfinished run of configs/experiments/default.yaml
      sftbench bench                     score every model on the test records; writes results/results.md
    \b
    One run, your own data, more:
      sftbench data csv:reviews.csv task_options.text_column=review
      sftbench train task=csv:reviews.csv task_options.text_column=review model=smollm2-135m-instruct method=lora
      sftbench train-all --experiment study --plan
      sftbench paper --experiment study
    \b
    Overrides are the same everywhere: key=value (any config key: sftbench train --help),
    task_options.KEY=VALUE, trainer_args.KEY=VALUE, lora_args.KEY=VALUE. `sftbench COMMAND --help` explains each.
    """
    ctx.obj = {"quiet": quiet, "verbose": verbose, "debug": debug}


overrides_argument = click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
experiment_option = click.option("--experiment", "-e", default="default", show_default=True, help=EXPERIMENT_HELP)
tasks_option = click.option("--tasks", help="only these tasks, comma-separated (e.g. mushroom,tweets)")


WORKER_COUNTS = "1,2,4,8"  # plan's wall time on N workers, for each N


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise UserError(f"--workers: a comma-separated list of positive numbers, e.g. 1,2,4,8; got '{text}'")
    return counts


def task_set(text: str | None) -> set[str] | None:
    return {t.strip() for t in text.split(",") if t.strip()} if text else None


def load(experiment_name: str, overrides: tuple[str, ...] = ()):
    """The experiment with the command line's overrides; `.root` is the results folder every step gets."""
    from sft.config import parse_overrides
    from sft.experiment import load_experiment

    return load_experiment(experiment_name, parse_overrides(list(overrides)))


@cli.command()
@click.argument("items", nargs=-1, metavar="[TASK]... [task_options.KEY=VALUE]...")
@click.option("--all", "all_tasks", is_flag=True, help="every offline task, domain-text corpora included")
@click.option("--out", type=click.Path(path_type=Path), help="output root (default: data/ or $SFTBENCH_DATA)")
@click.option("--seed", type=int, default=None, help="the split's seed (default 42)")
@click.option("--ratios", help="train,val,test fractions (default 0.8,0.1,0.1; domain text 0.85,0.05,0.1)")
@click.option("--force", is_flag=True, help="rebuild even if the split is up to date")
def data(items, all_tasks, out, seed, ratios, force):
    """Build tasks' splits: data/<task>/{train,val,test}.jsonl and meta.json.

    TASK is a task name (mushroom, tweets, movie-reviews, sms-spam, ag_news, django-docs, ...), csv:PATH, jsonl:PATH,
    hub:DATASET or domain:PATH; also accepted as task=TASK. A user file's columns and options go as
    task_options.KEY=VALUE: text_column, feature_columns (comma-separated), label_column (default label),
    id_column, labels (the declared label set), question, name, test_file, val_file.

    \b
    Examples:
      sftbench data mushroom tweets
      sftbench data csv:reviews.csv task_options.text_column=review task_options.labels=pos,neg
      sftbench data --all
    Training and benchmarking build what they need themselves; this command shows the counts first.
    """
    from prompts.build import DEFAULT_SEED, build_tasks
    from prompts.tasks import DOMAIN_TASKS, OFFLINE_TASKS
    from sft.config import parse_overrides

    names = [item for item in items if "=" not in item]
    values = parse_overrides([item for item in items if "=" in item])
    task = values.pop("task", None)
    options = values.pop("task_options", {})
    if values:
        raise UserError(f"sftbench data takes TASK and task_options.KEY=VALUE; not {', '.join(values)}")
    names += [task] if task else []
    names = [*OFFLINE_TASKS, *DOMAIN_TASKS] if all_tasks else names
    if not names:
        raise click.UsageError("name a task (e.g. sftbench data mushroom) or give --all")
    split_ratios = None
    if ratios:
        try:
            split_ratios = tuple(float(x) for x in ratios.split(","))
        except ValueError:
            raise UserError(f"--ratios: expected three numbers like 0.8,0.1,0.1, got '{ratios}'") from None
    build_tasks(names, options, out, DEFAULT_SEED if seed is None else seed, split_ratios, force)


@cli.command()
@overrides_argument
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="a YAML file of config keys")
@click.option("--resume", is_flag=True, help="require resuming from the last checkpoint")
@click.option("--force", is_flag=True, help="discard an existing run and train from scratch")
@click.option("--print-config", is_flag=True, help="print the resolved config (every key) and exit")
def train(overrides, config_file, resume, force, print_config):
    """Train one run: a task, a model and a method, into its folder under results/runs/<task>/.

    \b
    Config keys (all of them, with defaults: sftbench train --print-config; the file: sft/config.py):
      task=mushroom | tweets | movie-reviews | sms-spam | ag_news | csv:PATH | jsonl:PATH | domain:PATH | hub:DATASET
      model=smollm2-135m-instruct | gemma3-270m | minilm-l6 | a Hugging Face id | a local folder
      method=lora | qlora | full | lora-head        preset=cpu-fast | lora-3ep | ... (configs/presets/)
      epochs, lr, batch_size, grad_accum, max_length, train_limit, seed, precision=auto|bf16|fp16|fp32,
      lora_r, lora_alpha, lora_dropout, eval_steps, save_steps, report_to, merge, push_to_hub, ...
      trainer_args.KEY=VALUE (any SFTConfig / TrainingArguments field), lora_args.KEY=VALUE (any
      LoraConfig field, e.g. lora_args.use_dora=true), task_options.KEY=VALUE (a user file's columns)
    \b
    Examples:
      sftbench train task=mushroom model=smollm2-135m-instruct method=lora preset=cpu-fast
      sftbench train --config configs/examples/tweets-qlora.yaml lr=1e-4 epochs=2
      accelerate launch --config_file configs/accelerate/ddp.yaml -m sftbench train task=tweets
    The folder is named after the settings given beyond task, model and method (lr=1e-4 preset=cpu-fast:
    <model>-<method>-lr0.0001-cpu-fast; run_name=NAME names it yourself), so a run with other settings never
    shares a folder with another. A finished run is skipped; one trained with other settings or on another split
    is never overwritten without --force; an interrupted one resumes from its last checkpoint.
    """
    from sft.config import to_yaml
    from sft.train import config_from
    from sft.train import train as train_run

    config = config_from(list(overrides), config_file)
    if print_config:
        click.echo(to_yaml(config), nl=False)
        return
    train_run(config, force=force, resume=resume)


def executor_options(what: str):
    """--executor and the cluster options beside it, one set for train-all (each run a unit) and bench (each
    task a unit): sft/executors.py is the one implementation behind both."""

    def decorate(function):
        options = [
            click.option(
                "--executor",
                type=click.Choice(EXECUTORS),
                default="local",
                show_default=True,
                help=f"where {what}: here one after another, as Ray tasks, or as SLURM jobs (submitit)",
            ),
            click.option("--address", help="ray: the cluster's address (default: RAY_ADDRESS, else a local cluster)"),
            click.option("--workers", type=int, help="ray: CPUs of a local cluster; slurm: jobs running at once"),
            click.option(
                "--cpus-per-run", type=int, default=1, show_default=True, help="ray/slurm: CPUs each unit takes"
            ),
            click.option(
                "--gpus-per-run", type=float, help="ray/slurm: GPUs each unit takes (ray: 1 if the cluster has any)"
            ),
            click.option("--partition", help="slurm: the partition to submit to"),
            click.option("--time", "time_min", type=int, default=240, show_default=True, help="slurm: minutes per job"),
            click.option(
                "--cluster",
                type=click.Choice(SUBMITIT_CLUSTERS),
                help="slurm: submitit's executor (default slurm where sbatch exists; local runs the jobs here)",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def train_all_command(name: str, doc: str):
    @cli.command(name, help=doc)
    @overrides_argument
    @experiment_option
    @click.option("--only", help="only runs whose folder path contains this text, e.g. mushroom/smollm2")
    @tasks_option
    @click.option("--force", is_flag=True, help="retrain finished runs from scratch")
    @click.option("--list", "list_only", is_flag=True, help="list the runs and what train-all would do; train nothing")
    @click.option("--plan", is_flag=True, help="estimate each run's time instead of training (as sftbench plan)")
    @executor_options("runs train")
    def command(overrides, experiment, only, tasks, force, list_only, plan, **cluster):
        from sft.executors import ClusterOptions
        from sft.experiment import list_runs, train_experiment
        from sft.plan import print_plan

        loaded = load(experiment, overrides)
        if plan or list_only:
            runs = list_runs(loaded, only, task_set(tasks), force)
            if plan:
                print_plan(runs, workers=[cluster["workers"]] if cluster["workers"] else worker_counts(WORKER_COUNTS))
        else:
            train_experiment(loaded, force, only, task_set(tasks), ClusterOptions(**cluster))

    return command


TRAIN_ALL_HELP = """Train every unfinished run of an experiment (configs/experiments/<name>.yaml).

    An experiment lists tasks x models x methods, with seeds, sweeps chosen on validation and learning
    curves (see configs/experiments/study.yaml). Finished runs are skipped, interrupted ones resume, so
    running it again after a crash just continues. KEY=VALUE overrides apply to every run.

    \b
    Examples:
      sftbench train-all                                  # the default experiment, about 15 min on a laptop CPU
      sftbench train-all --experiment study --list        # its runs and their status
      sftbench train-all --experiment full lr=1e-4 --tasks mushroom
      accelerate launch -m sftbench train-all --experiment colab
      sftbench train-all --experiment study --executor ray --gpus-per-run 1    # a Ray cluster (docs/cluster.md)
      sftbench train-all --experiment study --executor slurm --partition gpu --gpus-per-run 1
    """
train_all_command("train-all", TRAIN_ALL_HELP)
train_all_command("experiment", "The same as train-all.\n\n" + TRAIN_ALL_HELP)


@cli.command()
@overrides_argument
@experiment_option
@click.option("--only", help="only runs whose folder path contains this text")
@tasks_option
@click.option("--gpu", default="T4", show_default=True, help="the GPU to estimate for (T4, L4, A100, H100, ...)")
@click.option("--no-measure", is_flag=True, help="do not time steps here (the models still load, to count tokens)")
@click.option(
    "--workers",
    default=WORKER_COUNTS,
    show_default=True,
    help="also the wall time on N workers at once (train-all --executor ray|slurm), for each N of this list",
)
@click.option(
    "--write", type=click.Path(path_type=Path, dir_okay=False), help="also write the plan (Markdown) to this file"
)
def plan(overrides, experiment, only, tasks, gpu, no_measure, workers, write):
    """Estimate an experiment's time per run, here and on a GPU; trains nothing.

    Per run: examples, tokens, optimizer steps and the estimated time. Then each task's bench time, from the
    scoring rates of the rows already in the results folders, and both on N workers.

    The time here comes from a few measured steps; the GPU's from its documented throughput. Then the
    experiment's wall time on N workers at once (train-all --executor ray|slurm), to choose N.

    \b
    Example:
      sftbench plan --experiment study --gpu L4 --workers 1,4,8
    """
    from bench.run import MODES, BenchOptions, plan_bench
    from sft.experiment import list_runs
    from sft.plan import GPUS, print_plan

    if gpu not in GPUS:
        raise UserError(f"--gpu: unknown GPU '{gpu}'; known: {', '.join(sorted(GPUS))}")
    counts = worker_counts(workers)
    loaded = load(experiment, overrides)
    runs = list_runs(loaded, only, task_set(tasks))
    _, text = print_plan(runs, gpu=gpu, measure=not no_measure, workers=counts)
    if write:
        from sftbench_common.fileio import atomic_write_text

        shown = " ".join(
            ["sftbench plan --experiment", experiment, *overrides, f"--gpu {gpu}", f"--workers {workers}"]
            + (["--no-measure"] if no_measure else [])
        )
        atomic_write_text(write, f"`{shown}` ({time.strftime('%Y-%m-%d')}):\n\n{text}\n")
    print()
    bench = BenchOptions(modes=tuple(loaded.modes or MODES), limit=loaded.bench_limit)
    plan_bench(loaded, bench, counts)


@cli.command()
@overrides_argument
@experiment_option
@tasks_option
@click.option("--modes", help="generative modes: score,generate (default: the experiment's `modes`, else both)")
@click.option("--limit", type=int, help="first N test records (default: the experiment's bench_limit; 0 = all)")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--no-baselines", is_flag=True, help="skip the classical baselines")
@click.option("--force", is_flag=True, help="recompute rows that are already there")
@click.option("--all-settings", is_flag=True, help="also measure a sweep's settings not chosen on val (marked so)")
@click.option(
    "--no-shared-trunk",
    is_flag=True,
    help="score every model whole (default: models adapted above a layer reuse the base model's pass below it)",
)
@click.option("--prompts", type=int, default=32, show_default=True, help="domain text: held-out prompts to continue")
@click.option("--api-base", help="domain text: also score an OpenAI-compatible endpoint (http://127.0.0.1:11434/v1)")
@click.option("--api-model", default="default", show_default=True, help="the model name sent to --api-base")
@click.option(
    "--run",
    type=click.Path(path_type=Path, file_okay=False),
    help="benchmark one finished run (with its base model and the baselines) instead of an experiment's runs, "
    "into the results folder it was trained under",
)
@executor_options("tasks are benchmarked (each task's rows on one worker)")
def bench(
    overrides,
    experiment,
    run,
    tasks,
    modes,
    limit,
    batch_size,
    device,
    no_baselines,
    force,
    all_settings,
    no_shared_trunk,
    prompts,
    api_base,
    api_model,
    **cluster,
):
    """Benchmark every model of an experiment, base and fine-tuned, and the baselines.

    Writes one row file per model and mode under results/<task>/rows/, then the table: results/results.md,
    .csv and .tex, confusion heatmaps and loss curves. Rows already measured on the same split and weights
    are kept, so a second bench only computes what changed. KEY=VALUE: the overrides the runs were trained
    with (sftbench train-all lr=1e-4 -> sftbench bench lr=1e-4).

    \b
    Examples:
      sftbench bench
      sftbench bench --experiment study --tasks tweets --modes score
      sftbench bench --experiment study --executor ray --gpus-per-run 1    # each task on a worker (docs/cluster.md)
      accelerate launch --config_file configs/accelerate/ddp.yaml -m sftbench bench    # a row's batches shared out
    """
    from bench.run import MODES, BenchOptions, parse_modes
    from sft.executors import ClusterOptions
    from sft.experiment import experiment_of_run

    loaded = experiment_of_run(run) if run else load(experiment, overrides)
    options = BenchOptions(
        modes=parse_modes(modes) if modes else tuple(loaded.modes or MODES),
        limit=loaded.bench_limit if limit is None else limit,
        batch_size=batch_size,
        device=device,
        baselines=not no_baselines,
        force=force,
        all_settings=all_settings,
        shared_trunk=not no_shared_trunk,
        prompts=prompts,
        api_base=api_base,
        api_model=api_model,
    )
    benchmark(loaded, options, task_set(tasks), ClusterOptions(**cluster))


def benchmark(loaded, options, tasks: set[str] | None, cluster) -> None:
    """bench and compare: every task's rows (here or on the cluster's workers), then the tables and page once."""
    from bench.page import build_page
    from bench.report import build_report
    from bench.run import bench_experiment
    from sft.executors import raise_failures
    from sft.experiment import check_filters
    from sft.run_folders import display_path, record_command
    from sftbench_common.logs import get_logger
    from sftbench_common.processes import is_main_process, world_size

    check_filters(loaded, None, tasks)
    started = time.time()
    outcomes = bench_experiment(loaded, options, tasks, cluster)
    computed = sum(o.result or 0 for o in outcomes)
    if is_main_process():  # under a launcher (accelerate launch, torchrun) the main process writes the tables
        record_command(
            loaded.root, "bench", loaded.name, time.time() - started, rows_computed=computed,
            executor=cluster.executor, processes=world_size(),
        )  # fmt: skip
        report = build_report(loaded.root)  # once, here, from every row the workers wrote
        build_page(loaded.root)
        get_logger(__name__).info(
            f"bench '{loaded.name}': {computed} row(s) computed in {time.time() - started:.0f} s; "
            f"report: {display_path(report)}"
        )
    raise_failures(outcomes, "task")


@cli.command()
@click.argument("task", metavar="TASK")
@overrides_argument
@click.option(
    "--experiment", "-e", default="compare", show_default=True,
    help="whose runs to train on TASK (each model and method once): a name under configs/experiments/ or a path",
)  # fmt: skip
@click.option("--force", is_flag=True, help="retrain finished runs and recompute rows")
@click.option("--no-baselines", is_flag=True, help="skip the classical baselines")
@click.option("--limit", type=int, help="benchmark the first N test records (default: all)")
def compare(task, overrides, experiment, force, no_baselines, limit):
    """Your task against the default models and the baselines: trained, benchmarked, one table.

    Trains the runs of configs/experiments/compare.yaml (SmolLM2-135M with LoRA, the MiniLM encoder) on TASK,
    benchmarks them with their base models, 4-shot prompting and the classical baselines on the whole test split,
    and writes everything to results/compare-<task>/ (runs, rows, results.md, figures, index.html). Prints the
    table's path and its headline. Run it again after an interruption: finished runs and rows are kept.

    \b
    Examples:
      sftbench compare csv:reviews.csv task_options.text_column=review task_options.label_column=sentiment
      sftbench compare jsonl:tickets.jsonl task_options.text_column=body train_limit=1024
      sftbench compare tweets --experiment default        # the default experiment's own settings, one task
    """
    from bench.report import headline
    from bench.run import MODES, BenchOptions
    from prompts.tasks import task_slug
    from sft.config import parse_overrides
    from sft.executors import ClusterOptions
    from sft.experiment import experiment_for_task, train_experiment
    from sft.run_folders import display_path

    given = parse_overrides(list(overrides))
    task_options = given.pop("task_options", {})
    loaded = experiment_for_task(experiment, task, task_options, given)
    train_experiment(loaded, force)
    options = BenchOptions(modes=tuple(loaded.modes or MODES), limit=limit, baselines=not no_baselines, force=force)
    benchmark(loaded, options, None, ClusterOptions())
    table, page = display_path(loaded.root / "results.md"), display_path(loaded.root / "index.html")
    click.echo(f"table: {table}  (page: {page})")
    for line in headline(loaded.root, task_slug(task, task_options)):
        click.echo(line)


@cli.command()
@experiment_option
def report(experiment):
    """Rebuild the tables and figures from the files under results/ (no model runs).

    results.md / .csv / .tex, the figures, the model cards and the results page (index.html: every row, every
    prediction, any two models side by side; it opens from disk) come from the row files, records.jsonl, run.json
    and train_log.jsonl; the same files give the same bytes.
    """
    from bench.page import build_page
    from bench.report import build_report
    from sftbench_common.logs import get_logger

    root = load(experiment).root
    log = get_logger(__name__)
    log.info(f"report: {build_report(root)}")
    page = build_page(root)
    if page is not None:
        log.info(f"report: {page} (the results page: open it in a browser, from disk)")


@cli.command()
@experiment_option
@click.option("--no-pdf", is_flag=True, help="write the LaTeX folder only")
def paper(experiment, no_pdf):
    """A paper-style report: results/report/report.tex, and its PDF where LaTeX is installed.

    Its tables and figures come from the same files as `sftbench report`.
    """
    from bench.paper import build_paper, compile_pdf
    from sftbench_common.logs import get_logger

    log = get_logger(__name__)
    tex = build_paper(load(experiment).root)
    log.info(f"paper: {tex}")
    if not no_pdf and (pdf := compile_pdf(tex)):
        log.info(f"paper: {pdf}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--merge", is_flag=True, help="write merged/: base + adapter in one safetensors model")
@click.option("--push-to-hub", metavar="OWNER/NAME", help="upload merged/ (else the adapter) with its model card")
@click.option("--dry-run", is_flag=True, help="with --push-to-hub: list every file and its size; upload nothing")
@click.option("--include", multiple=True, metavar="FILE", help="upload this file too (repeatable)")
def export(run_dir, merge, push_to_hub, dry_run, include):
    """Merge a finished LoRA run into one model, upload it to the Hugging Face Hub.

    Only weights, configs, tokenizer and the model card are uploaded; anything else in the folder stops the
    upload unless named with --include.

    \b
    Example:
      sftbench export results/runs/mushroom/smollm2-135m-instruct-lora --merge --push-to-hub me/mushroom-lora
    """
    from sft.export import export_run, run_model

    if not (merge or push_to_hub):
        raise click.UsageError("nothing to do: give --merge and/or --push-to-hub OWNER/NAME")
    if dry_run and not push_to_hub:
        raise click.UsageError("--dry-run lists what --push-to-hub would send: give --push-to-hub OWNER/NAME")
    export_run(run_dir, run_model(run_dir), merge=merge, repo_id=push_to_hub, dry_run=dry_run, include=include)


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN_DIR...")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--limit", type=int, default=None, help="the first N records of the split (default: all)")
def evaluate(run_dirs, split, limit):
    """Accuracy of finished classifier runs (encoders, lora-head) on a split, as JSON lines."""
    from bench.classifier import evaluate_run

    for run_dir in run_dirs:
        result = evaluate_run(run_dir, split, limit)
        click.echo(json.dumps({k: v for k, v in result.items() if k != "predicted"}))


@cli.command("list")
@click.argument("what", required=False, type=click.Choice(["models", "tasks", "presets", "experiments"]))
def list_names(what):
    """The models, tasks, presets and experiments you can name (all four, or one kind).

    \b
    Examples:
      sftbench list
      sftbench list models
    """
    from sft.catalog import CATALOG

    for kind, entries in CATALOG.items():
        if what in (None, kind):
            click.echo(f"{kind}:")
            for name, about in entries():
                click.echo(f"  {name:36} {about}")


@cli.command()
def doctor():
    """Check the install in under a minute and say what is missing.

    Python, the pinned packages, torch and the precision it runs in, disk space, the tasks' data, the packaged
    models (each loads and runs a forward pass). Each check prints one line; a FAIL line says what to do, and
    the exit code is 1. `make smoke` runs it.
    """
    from sft.doctor import run_checks

    if not run_checks(click.echo):
        raise SystemExit(1)


@cli.command()
@click.option("--clear", is_flag=True, help="delete the trunk cache (it is computed again when needed)")
def cache(clear):
    """The trunk cache: what it holds and its size; --clear empties it.

    Runs with LoRA on a model's top layers (lora_layers=N) keep each record's output of the frozen layers below
    the adapters under $SFTBENCH_CACHE/trunk (default ~/.cache/sftbench/trunk), so later epochs, seeds, sweep
    settings and learning-curve sizes skip those layers. It holds at most trunk_cache_gb (default 8) on disk;
    past that, records are computed again. Deleting it loses nothing but time.
    """
    from sft.trunk import cache_summary, trunk_folder

    folder = trunk_folder()
    summary = cache_summary(folder)
    rows, size = sum(m["rows"] for m in summary.values()), sum(m["bytes"] for m in summary.values())
    if clear:
        shutil.rmtree(folder, ignore_errors=True)
        click.echo(f"trunk cache cleared: {rows} record(s), {size / 1e6:.1f} MB removed from {folder}")
        return
    click.echo(f"trunk cache: {folder}")
    for key, found in summary.items():
        about = ", ".join(f"{k} {v}" for k, v in found["about"].items())
        click.echo(f"  {key} ({about or 'no description'}): {found['rows']} record(s), {found['bytes'] / 1e6:.1f} MB")
    click.echo(f"  in all: {rows} record(s), {size / 1e6:.1f} MB")


@cli.command()
@click.option("--model", default="smollm2-135m-instruct", show_default=True)
@click.option("--tasks", default="mushroom,tweets", show_default=True, help="training is timed on each")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--steps", type=int, default=6, show_default=True, help="timed optimizer steps (after one warm-up)")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-length", type=int, default=256, show_default=True, help="the plain recipe pads to this")
@click.option("--score-examples", type=int, default=48, show_default=True)
@click.option("--heldout", type=int, default=32, show_default=True, help="val records for the loss after training")
@click.option("--trunk-records", type=int, default=64, show_default=True, help="train records of the trunk-cache runs")
@click.option(
    "--bench-examples", type=int, default=96, show_default=True, help="test records of the shared-trunk bench"
)
@click.option(
    "--tree-examples",
    type=int,
    default=0,
    show_default=True,
    help="test records scored side by side and as prompt trees (0: the whole split, where trees pay)",
)
@click.option(
    "--parts",
    default="paths,scoring,trunk",
    show_default=True,
    help="what to measure: paths (training paths vs the plain recipe), scoring, trunk (the frozen trunk computed once)",
)
@click.option("--write", type=click.Path(path_type=Path, dir_okay=False), help="also write what it prints to this file")
def speed(write, **options):
    """Training and scoring speed against the plain recipe, as ratios measured in one process.

    Plain HF Trainer vs the toolkit's paths (SDPA, eager attention, shared prefix) over the same steps and
    data, then each model's held-out loss, so a speed-up that changed what is learned shows.
    """
    from bench.speed import PARTS, measure_speed
    from sftbench_common.logs import get_logger

    options["tasks"] = sorted(task_set(options["tasks"]), key=options["tasks"].index)
    options["parts"] = task_set(options["parts"]) or set()
    if not options["parts"] or options["parts"] - set(PARTS):
        raise UserError(f"--parts: a comma-separated choice of {', '.join(PARTS)}; got '{','.join(options['parts'])}'")
    from sftbench_common.fileio import atomic_write_text

    kept = []

    class Keep(logging.Handler):  # the lines measure_speed logs, kept for --write as they are shown
        def emit(self, record):
            kept.append(record.getMessage())

    speed_log = get_logger("bench.speed")
    handler = Keep()
    speed_log.addHandler(handler)
    try:
        measure_speed(SimpleNamespace(**options))
    finally:
        speed_log.removeHandler(handler)
    if write:
        atomic_write_text(write, "\n".join(kept) + "\n")


def main() -> None:
    cli(prog_name="sftbench")
