"""Where an experiment's work runs: here, one unit after another (local); as Ray tasks; or as SLURM jobs (submitit).

    sftbench train-all --experiment study                                   # local, the default
    sftbench train-all --experiment study --executor ray                    # RAY_ADDRESS's cluster, else a local one
    sftbench train-all --experiment study --executor ray --address ray://head:10001 --gpus-per-run 1
    sftbench train-all --experiment study --executor slurm --partition gpu --time 120 --gpus-per-run 1
    sftbench bench --experiment study --executor ray                        # each task's rows on a worker

A unit of work (Work) is a function and its arguments with a name: for train-all a run folder (the same
`train(config)` as the local executor), for bench a task (all its rows on one worker, so they share the model
loads, the prompt passes and the frozen trunk). A worker writes into the results folder, which every worker
must see (shared storage: NFS, a cluster's home or scratch); the run's lock keeps two workers off one folder.
Every executor is the same loop (the local one is that loop with one worker, this process) with the same
failure policy: a unit that fails, a worker that dies (killed by the OS, out of memory) or a job that is
cancelled is one `[fail]` line, and the others go on; the command then exits with an error naming the failed
units, and running it again retries only those. Training's runs go out in waves (run_in_waves): every run that
can train now, then, once a sweep's grid has finished, its chosen setting at the other seeds;
run_folders.decide says for each whether it is skipped, resumed, trained or refused (a run trained with other
settings is never overwritten without --force), in the same words `--list` prints.

Ray and submitit are optional: `pip install -e '.[ray]'` / `'.[slurm]'` in the clone.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prompts.build import build_task
from prompts.tasks import get_task, task_slug
from sft import run_folders
from sft.config import TrainConfig, to_yaml
from sft.executor_names import EXECUTORS
from sft.train import train
from sftbench_common.errors import UserError
from sftbench_common.logs import get_logger, setup_logging
from sftbench_common.paths import results_dir

log = get_logger(__name__)

# set where the command runs, seen by every worker
FORWARDED_ENV = ("SFTBENCH_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "DATASETS_", "TQDM_")


@dataclass
class ClusterOptions:
    """How runs are handed to a cluster (`train-all --executor ray|slurm` and the options beside it)."""

    executor: str = "local"
    address: str | None = None  # ray: the cluster's address (default RAY_ADDRESS, else a local cluster)
    workers: int | None = None  # ray: CPUs of a local cluster; slurm: jobs running at once (default: all)
    cpus_per_run: int = 1
    gpus_per_run: float | None = None  # default: 1 where the cluster has GPUs (ray) / 0 (slurm)
    partition: str | None = None  # slurm
    time_min: int = 240  # slurm: each job's time limit
    cluster: str | None = None  # submitit's executor: slurm where `sbatch` is found; `local` runs jobs here


@dataclass
class Work:
    """One unit a worker does: `function(*args, **kwargs)`, named in the [ ok ] / [fail] lines."""

    name: str
    function: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Outcome:
    name: str
    seconds: float
    error: str | None = None  # the exception's last lines, when the unit failed
    result: object = None  # what the function returned


def attempt(work: Work) -> Outcome:
    """One unit, its error returned as text rather than raised, so the caller reports it beside the others."""
    started = time.time()
    try:
        result = work.function(*work.args, **work.kwargs)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its unit; the others go on
        # an input error is its one line; anything else keeps the traceback's last frames
        lines = (
            traceback.format_exception_only(error)
            if isinstance(error, UserError)
            else traceback.format_exception(error)[-3:]
        )
        return Outcome(work.name, round(time.time() - started, 1), "".join(lines).strip())
    return Outcome(work.name, round(time.time() - started, 1), result=result)


def on_worker(work: Work, env: dict[str, str]) -> Outcome:
    """What a Ray or SLURM worker runs: one unit. The worker process takes the environment the command was typed
    in (HF_HUB_OFFLINE, the caches: `forwarded_env`), as a new process of the command's own would have it."""
    os.environ.update(env)
    setup_logging()  # as the command set it up where it was typed (progress bars off off a terminal, ...)
    return attempt(work)


def training(config: TrainConfig, force: bool, root: Path) -> Work:
    """A run to train, named by its folder."""
    return Work(run_folders.display_path(config.run_dir(root)), train, (config,), {"force": force, "results": root})


def decision_for(config: TrainConfig, split_hashes: dict[str, str], root: Path, force: bool) -> run_folders.Decision:
    """run_folders.decide for this run (the worker's `train` decides again, under the run's lock)."""
    slug = task_slug(config.task, config.task_options)
    if slug not in split_hashes:  # built once here, so workers find the split and never build it at once
        split_hashes[slug] = build_task(get_task(config.task, **config.task_options))["split_hash"]
    return run_folders.decide(config.run_dir(root), to_yaml(config), split_hashes[slug], force)


def decision_line(config: TrainConfig, decision: run_folders.Decision, root: Path) -> str:
    """'  [skip  ] results/runs/mushroom/smollm2-135m-instruct-lora: finished': what train-all does, as --list says."""
    shown = run_folders.display_path(config.run_dir(root))
    why = decision.why.removeprefix(f"{shown}: ")
    return f"  [{decision.action:<6}] {shown}: {why}"


def forwarded_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith(FORWARDED_ENV)}


def run_in_waves(waves, submit, force: bool, root: Path) -> list[Outcome]:
    """Train wave after wave: `waves()` gives the runs that can train now, `submit(works)` trains them and
    returns their outcomes; a run is tried once per command. A refused run is a failure here, never sent."""
    tried, outcomes, split_hashes = set(), [], {}
    while True:
        pending = [c for c in waves() if c.run_dir(root) not in tried]
        if not pending:
            return outcomes
        tried |= {c.run_dir(root) for c in pending}
        to_send = []
        for config in pending:
            decision = decision_for(config, split_hashes, root, force)
            if decision.action == "skip":
                log.info(decision_line(config, decision, root))
            elif decision.action == "refuse":
                outcome = Outcome(training(config, force, root).name, 0.0, decision.why.split(": ", 1)[1])
                report(outcome)
                outcomes.append(outcome)
            else:
                log.info(decision_line(config, decision, root))
                to_send.append(training(config, force, root))
        if to_send:
            outcomes += submit(to_send)


def local_submit(options: ClusterOptions, root: Path):
    """The local executor: the same loop with one worker, this process."""

    def submit(works: list[Work]) -> list[Outcome]:
        outcomes = []
        for work in works:
            outcome = attempt(work)
            report(outcome)
            outcomes.append(outcome)
        return outcomes

    return submit, lambda: None


def report(outcome: Outcome) -> None:
    if outcome.error is None:
        log.info(f"  [ ok ] {outcome.name} ({outcome.seconds:.0f} s)")
    else:
        log.error(f"  [fail] {outcome.name} ({outcome.seconds:.0f} s): {outcome.error}")


def ray_submit(options: ClusterOptions, root: Path):
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'sftbench[ray]' (or pip install ray)") from None
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address and options.workers:
        raise UserError("--workers sets the CPUs of a local Ray cluster; with --address the cluster's own count")
    ray.init(
        address=address,
        num_cpus=None if address else options.workers or os.cpu_count(),
        include_dashboard=False,
        runtime_env={"env_vars": forwarded_env()},
        logging_level=logging.WARNING,
    )
    resources = ray.cluster_resources()
    gpus = options.gpus_per_run
    if gpus is None:
        gpus = 1 if resources.get("GPU", 0) > 0 else 0
    log.info(
        f"Ray cluster: {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs; each run takes "
        f"{options.cpus_per_run} CPU(s) and {gpus:g} GPU(s)"
    )
    remote = ray.remote(num_cpus=options.cpus_per_run, num_gpus=gpus, max_retries=0)(on_worker)

    def submit(works: list[Work]) -> list[Outcome]:
        waiting = {remote.remote(work, forwarded_env()): work for work in works}
        outcomes = []
        while waiting:
            done, _ = ray.wait(list(waiting), num_returns=1)
            work = waiting.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayError as error:  # the worker died (killed, out of memory) or was cancelled
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                outcome = Outcome(work.name, 0.0, f"{type(error).__name__}: {reason}")
            report(outcome)
            outcomes.append(outcome)
        return outcomes

    return submit, ray.shutdown


def slurm_submit(options: ClusterOptions, root: Path):
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install 'sftbench[slurm]'") from None
    cluster = options.cluster or ("slurm" if shutil.which("sbatch") else None)
    if cluster is None:
        raise UserError(
            "--executor slurm: no `sbatch` on this machine; run it on the cluster's login node "
            "(or --cluster local to run the jobs here, as the tests do)"
        )
    folder = root / ".submitit"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    gpus = options.gpus_per_run or 0
    if gpus != int(gpus):
        raise UserError(f"--gpus-per-run {gpus:g}: SLURM allocates whole GPUs; give 0, 1, 2, ... (Ray can share one)")
    parameters = {
        "name": "sftbench",
        "timeout_min": options.time_min,
        "cpus_per_task": options.cpus_per_run,
        "gpus_per_node": int(gpus),
        "slurm_partition": options.partition,
    }
    if options.workers:
        parameters["slurm_array_parallelism"] = options.workers
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    log.info(f"submitit ({cluster}): job logs under {folder}")

    def submit(works: list[Work]) -> list[Outcome]:
        with executor.batch():  # one job array
            jobs = [executor.submit(on_worker, work, forwarded_env()) for work in works]
        log.info(f"submitted job(s) {', '.join(job.job_id for job in jobs)}")
        outcomes = []
        for job in submitit.helpers.as_completed(jobs):
            work = works[jobs.index(job)]
            try:
                outcome = job.result()
            except Exception as error:  # noqa: BLE001 - the job itself failed (killed, cancelled, timed out)
                tail = str(error).strip().splitlines()[-3:]
                outcome = Outcome(work.name, 0.0, f"job {job.job_id}: {' '.join(tail)}")
            report(outcome)
            outcomes.append(outcome)
        return outcomes

    return submit, lambda: None


SUBMITTERS = dict(zip(EXECUTORS, (local_submit, ray_submit, slurm_submit), strict=True))


def executor(options: ClusterOptions, root: Path):
    """(submit, close) of the chosen executor."""
    if options.executor not in SUBMITTERS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, got '{options.executor}'")
    return SUBMITTERS[options.executor](options, root)


def raise_failures(outcomes: list[Outcome], what: str) -> None:
    """The summary after the others finished: one error naming every failed unit, or nothing."""
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise UserError(
            f"{len(failed)} of {len(outcomes)} {what}(s) failed: "
            + "; ".join(o.name for o in failed)
            + " (their errors are above; run the command again to retry them)"
        )


def train_runs(waves, options: ClusterOptions, force: bool, root: Path | None = None) -> int:
    """Train every run `waves` yields with the chosen executor; returns how many were tried. Raises UserError
    naming the runs that failed, after the others have finished."""
    root = root or results_dir()
    submit, close = executor(options, root)
    try:
        outcomes = run_in_waves(waves, submit, force, root)
    finally:
        close()
    raise_failures(outcomes, "run")
    return len(outcomes)


def run_units(works: list[Work], options: ClusterOptions, root: Path) -> list[Outcome]:
    """Every unit at once with the chosen executor (bench's tasks); returns their outcomes once all have finished
    (the caller reports what they made, then raise_failures)."""
    submit, close = executor(options, root)
    try:
        return submit(works)
    finally:
        close()
