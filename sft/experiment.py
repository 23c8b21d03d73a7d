"""Train every run of an experiment that has not finished yet (`make train-all`).

An experiment file lists tasks x models x methods:

    name: default
    preset: cpu-fast              # applied to every run unless the run names another
    overrides: {seed: 42}         # any TrainConfig key, for every run
    tasks: [mushroom]
    fewshot: [0, 4]               # bench: each base generative model also with 4 in-context demonstrations
    runs:
      - {model: smollm2-135m-instruct, method: lora}
      - {model: minilm-l6, method: full, tasks: [mushroom, tweets]}   # a run may name its own tasks
      - model: smollm2-135m-instruct
        seeds: [42, 43, 44]                          # one run folder per seed; the table shows their spread
        sweep: {lr: [1.0e-4, 3.0e-4]}                # a grid, chosen on the val records, never on test
        learning_curve: [64, 256, 768]               # train_limit values: a learning-curve figure per task

Each (task, run) pair trains into results/runs/<task>/<model>-<method>/ (with seeds, a sweep or a learning
curve, one folder per run, named after what varies: sft/run_groups.py). `seeds`, `sweep` and
`learning_curve` may also be set for every run at the top level. Finished runs are skipped,
interrupted ones resume from their last checkpoint, so running it again after a crash just continues.
`--plan` trains nothing and prints per run the examples, tokens, optimizer steps and an estimated time
here and on a GPU (sft/plan.py). Under `accelerate launch` every run trains on all the processes.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path

from prompts.fewshot import check_shots
from prompts.tasks import task_slug
from sft import run_folders
from sft.config import TrainConfig, read_yaml
from sft.executors import ClusterOptions, decision_for, decision_line, train_runs
from sft.run_groups import GROUP_KEYS, RunGroup, check_seeds, check_sizes, check_sweep, settings_text
from sftbench_common.errors import UserError, moved_to
from sftbench_common.logs import get_logger
from sftbench_common.paths import REPO_ROOT, results_dir

# The experiment file's schema: key -> (type, default, meaning). The loader accepts these keys and no others, and
# docs/experiment-file.md is generated from them (scripts/experiment_reference.py; a test keeps it current).
GROUP_SCHEMA = {
    "seeds": (
        "list of int",
        "the run's `seed` (one run)",
        "train one run per seed; the table shows their mean, spread and a pigeonhole-bootstrap interval",
    ),
    "sweep": (
        "mapping: config key -> list",
        "none",
        "a grid of settings (e.g. `{lr: [1.0e-4, 3.0e-4]}`), one run each at the first seed, chosen on the "
        "validation records (never on test); the chosen setting alone trains the later seeds and is benchmarked",
    ),
    "learning_curve": (
        "list of int or `all`",
        "none",
        "train sizes (`train_limit`), each with its own sweep and seeds and a validation budget of at most as many "
        "records; `all` is the whole train split; bench draws the learning-curve figure",
    ),
}
EXPERIMENT_SCHEMA = {
    "name": ("str", "the file's name", "what logs, tables and results/commands.md call the experiment"),
    "description": ("str", "none", "free text, for the reader of the file"),
    "results": (
        "str (a folder name)",
        "none: results/ itself",
        "a folder of its own under results/ for the runs, rows, tables, figures and page (e.g. `study`)",
    ),
    "preset": ("str", "none", "a configs/presets/ name applied to every run that names no preset of its own"),
    "overrides": (
        "mapping: config key -> value",
        "none",
        "any TrainConfig key (`sftbench train --help`), for every run",
    ),
    "tasks": (
        "list of task names or mappings",
        "none (each run lists its own)",
        "the tasks every run trains on: a name (`mushroom`, `sftbench list tasks`) or a mapping "
        "`{task: 'csv:PATH', text_column: review, label_column: sentiment}` whose other keys are the task's options",
    ),
    "runs": ("list of run entries (below)", "required", "the models and methods to train, each on every task"),
    "fewshot": (
        "list of int",
        "[0]",
        "bench: each base generative model also prompted with this many demonstrations from the train split",
    ),
    "modes": (
        "list: score, generate",
        "both",
        "bench: the generative modes to measure (label log-likelihood, greedy answer)",
    ),
    "bench_limit": ("int", "none: the whole test split", "bench: the first N test records (the table says so)"),
    **GROUP_SCHEMA,
}
RUN_SCHEMA = {
    "model": ("str", "required", "a packaged name (`sftbench list models`), a Hugging Face id or a local folder"),
    "method": ("str", "lora", "lora, qlora, full or lora-head"),
    "tasks": ("list", "the experiment's `tasks`", "this run's own tasks, in the same form"),
    "preset": ("str", "the experiment's `preset`", "a configs/presets/ name for this run"),
    "overrides": ("mapping", "none", "TrainConfig keys for this run; they win over the experiment's `overrides`"),
    **{key: (kind, "the experiment's", meaning) for key, (kind, _, meaning) in GROUP_SCHEMA.items()},
}  # fmt: skip
EXPERIMENT_KEYS = set(EXPERIMENT_SCHEMA)
RUN_KEYS = set(RUN_SCHEMA)
assert set(GROUP_KEYS) == set(GROUP_SCHEMA)

log = get_logger(__name__)


@dataclass
class Experiment:
    name: str
    path: Path
    groups: list[RunGroup]
    root: Path  # the results folder its runs, rows and tables go to (results/, or results/<results>/)
    bench_limit: int | None = None  # benchmark the first N test records of each task (None: all)
    fewshot: list[int] = field(default_factory=lambda: [0])  # in-context demonstrations of the base rows
    modes: list[str] | None = None  # the generative modes bench measures (None: score and generate)
    results: str | None = None  # a folder of its own under results/ (runs, rows, tables, report); None: results/

    @property
    def configs(self) -> list[TrainConfig]:
        """Every run the experiment plans (a sweep's later seeds counted with its first setting)."""
        return [config for group in self.groups for config in group.planned()]

    @property
    def tasks(self) -> list[tuple[str, dict]]:
        seen = {}
        for group in self.groups:
            config = group.base
            seen.setdefault(
                (config.task, repr(sorted(config.task_options.items()))), (config.task, config.task_options)
            )
        return list(seen.values())

    def task_groups(self, slug: str) -> list[RunGroup]:
        return [g for g in self.groups if task_slug(g.base.task, g.base.task_options) == slug]


def find_experiment(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = REPO_ROOT / "configs" / "experiments" / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in (REPO_ROOT / "configs" / "experiments").glob("*.yaml"))
    raise UserError(f"unknown experiment '{name_or_path}': not a file, and not one of {', '.join(known)}")


def _task_entry(entry) -> tuple[str, dict]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and "task" in entry:
        options = {k: v for k, v in entry.items() if k != "task"}
        return entry["task"], options
    raise UserError(f"task entry {entry!r}: expected a name or a mapping with a 'task' key")


def _groups(layers: list[tuple[dict, str]], spec: dict, run: dict, origin: str) -> list[RunGroup]:
    """The run entry's groups on one task: one per learning-curve size (one group without a curve)."""
    seeds = run.get("seeds", spec.get("seeds"))
    sweep = run.get("sweep", spec.get("sweep"))
    sizes = run.get("learning_curve", spec.get("learning_curve"))
    settings = check_sweep(sweep, origin) if sweep is not None else [{}]
    seeds = check_seeds(seeds, origin) if seeds is not None else None
    sizes = check_sizes(sizes, origin) if sizes is not None else [None]
    return [RunGroup(layers, settings, seeds, size, origin) for size in sizes]


def load_experiment(name_or_path: str, cli_overrides: dict | None = None, results: Path | None = None) -> Experiment:
    """The experiment file's runs, with the command line's overrides; its results go under `results` (default:
    results/, or $SFTBENCH_RESULTS where the user set it), in the folder of its own the file may name."""
    path = find_experiment(name_or_path)
    return experiment_from(read_yaml(path), path, cli_overrides, results)


def experiment_for_task(
    name_or_path: str, task: str, task_options: dict, cli_overrides: dict | None = None, results: Path | None = None
) -> Experiment:
    """`sftbench compare`: an experiment file's runs on one task (the user's), each (model, method) once, into a
    results folder of its own, compare-<task>."""
    path = find_experiment(name_or_path)
    spec = read_yaml(path)
    slug = task_slug(task, task_options)
    runs, seen = [], set()
    for run in spec.get("runs") or []:
        key = (run.get("model"), run.get("method", "lora")) if isinstance(run, dict) else None
        if key not in seen:
            seen.add(key)
            runs.append({k: v for k, v in run.items() if k != "tasks"} if isinstance(run, dict) else run)
    spec = {
        **spec, "name": f"compare-{slug}", "results": f"compare-{slug}", "runs": runs,
        "tasks": [{"task": task, **task_options}],
    }  # fmt: skip
    return experiment_from(spec, path, cli_overrides, results)


def experiment_of_run(run_dir: Path) -> Experiment:
    """`sftbench bench --run DIR`: one finished run as an experiment of its own, benchmarked (with its base model
    and the baselines) into the results folder it was trained under."""
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"{run_dir}: not a run folder (no config.yaml); runs are under results/runs/<task>/")
    if not (run_dir / "run.json").is_file():
        raise UserError(f"{run_dir}: the run has not finished (no run.json); `sftbench train` it again to resume")
    run_dir = run_dir.resolve()
    given = read_yaml(config_file)
    if run_dir.parent.parent.name == "runs":  # <root>/runs/<task>/<run>: its rows and tables go to <root>
        root, given["run_name"], given["output_dir"] = run_dir.parent.parent.parent, run_dir.name, None
    else:
        root, given["output_dir"] = results_dir(), str(run_dir)
    group = RunGroup([(given, str(config_file))])
    return Experiment(run_dir.name, config_file, [group], root)


def experiment_from(spec: dict, path: Path, cli_overrides: dict | None, results: Path | None) -> Experiment:
    """An experiment from its file's contents (`path` names it in errors)."""
    unknown = set(spec) - EXPERIMENT_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(EXPERIMENT_KEYS)}")
    if not spec.get("runs"):
        raise UserError(f"{path}: no runs listed")
    fewshot = check_shots(spec["fewshot"], str(path)) if "fewshot" in spec else [0]
    groups = []
    for index, run in enumerate(spec["runs"], start=1):
        origin = f"{path}: runs[{index}]"
        if not isinstance(run, dict) or "model" not in run:
            raise UserError(f"{origin}: expected a mapping with at least 'model'")
        unknown = set(run) - RUN_KEYS
        if unknown:
            raise UserError(f"{origin}: unknown key(s) {sorted(unknown)}; valid: {sorted(RUN_KEYS)}")
        for entry in run.get("tasks") or spec.get("tasks") or []:
            task, options = _task_entry(entry)
            base = {"preset": run.get("preset", spec.get("preset")), **(spec.get("overrides") or {})}
            this = {
                "task": task,
                "task_options": options,
                "model": run["model"],
                "method": run.get("method", "lora"),
                **(run.get("overrides") or {}),
            }
            layers = [(base, f"{path}: overrides"), (this, origin), (cli_overrides or {}, "command line")]
            groups += _groups(layers, spec, run, origin)
    if not groups:
        raise UserError(f"{path}: no tasks listed")
    modes = spec.get("modes")
    if modes is not None and (not isinstance(modes, list) or not set(modes) <= {"score", "generate"} or not modes):
        raise UserError(f"{path}: 'modes' must be a list of score and/or generate; got {modes!r}")
    folder = spec.get("results")
    if folder is not None and (not isinstance(folder, str) or "/" in folder or folder in ("", ".", "..", "runs")):
        raise UserError(f"{path}: 'results' must be a folder name under results/, e.g. study; got {folder!r}")
    root = (results or results_dir()) / (folder or "")
    return Experiment(spec.get("name", path.stem), path, groups, root, spec.get("bench_limit"), fewshot, modes, folder)


def selected(config: TrainConfig, root: Path, only: str | None, tasks: set[str] | None) -> bool:
    """Whether `--only TEXT` (a piece of the run folder's path) and `--tasks a,b` keep this run."""
    return (not only or only in str(config.run_dir(root))) and (
        not tasks or task_slug(config.task, config.task_options) in tasks
    )


def check_filters(experiment: Experiment, only: str | None, tasks: set[str] | None) -> None:
    """A `--tasks` naming a task the experiment does not have, or an `--only` that keeps no run, is one error
    with the names that exist."""
    slugs = [task_slug(task, options) for task, options in experiment.tasks]
    for task in sorted(tasks or ()):
        if task not in slugs:
            close = difflib.get_close_matches(task, slugs, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UserError(
                f"--tasks: experiment '{experiment.name}' has no task '{task}'; {hint}its tasks: {', '.join(slugs)}"
            )
    if only:
        root = experiment.root
        names = sorted({str(c.run_dir(root).relative_to(root / "runs")) for c in experiment.configs})
        if not any(only in str(c.run_dir(root)) for c in experiment.configs):
            close = difflib.get_close_matches(only, names, n=1, cutoff=0.3)
            hint = f"did you mean {close[0]}? " if close else ""
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise UserError(
                f"--only '{only}' matches no run of experiment '{experiment.name}'; {hint}its runs: {shown}"
            )


def runnable_now(experiment: Experiment, only: str | None, tasks: set[str] | None):
    """The waves of an experiment's training (sft/executors.py run_in_waves): each call, the runs that can train
    now; a sweep's choice is logged once, when its grid has finished."""
    root, announced = experiment.root, set()

    def waves() -> list[TrainConfig]:
        for group in experiment.groups:
            if group.swept and group.stem not in announced and (choice := group.choice(root)) is not None:
                announced.add(group.stem)
                log.info(
                    f"{group.stem}: chosen on val: {settings_text(choice[0])} (among {len(group.settings)} settings)"
                )
        return [c for g in experiment.groups for c in g.to_train(root) if selected(c, root, only, tasks)]

    return waves


def list_runs(
    experiment: Experiment, only: str | None = None, tasks: set[str] | None = None, force: bool = False
) -> list[TrainConfig]:
    """Log every run the experiment (or its --only/--tasks part) has, with what `train-all` will do with it, in
    the words train-all prints; returns the runs."""
    check_filters(experiment, only, tasks)
    root, split_hashes = experiment.root, {}
    chosen = [c for c in experiment.configs if selected(c, root, only, tasks)]
    log.info(f"experiment '{experiment.name}' ({experiment.path}): {len(chosen)} run(s)")
    for group in experiment.groups:
        for config in group.to_train(root):
            if selected(config, root, only, tasks):
                log.info(decision_line(config, decision_for(config, split_hashes, root, force), root))
        if group.swept and group.choice(root) is None and len(group.run_seeds) > 1:
            log.info(f"  [later ] {group.stem}: the setting chosen on val, at seeds {group.run_seeds[1:]}")
    return chosen


def train_experiment(
    experiment: Experiment,
    force: bool = False,
    only: str | None = None,
    tasks: set[str] | None = None,
    cluster: ClusterOptions | None = None,
) -> int:
    """Train every unfinished run of the experiment (or its --only/--tasks part), here one after another or on a
    Ray / SLURM cluster (sft/executors.py); returns how many runs it went through."""
    check_filters(experiment, only, tasks)
    started, options, root = time.time(), cluster or ClusterOptions(), experiment.root
    trained = train_runs(runnable_now(experiment, only, tasks), options, force, root)
    chosen = [c for c in experiment.configs if selected(c, root, only, tasks)]
    run_folders.record_command(
        root, "train-all", experiment.name, time.time() - started, runs_trained=trained, runs=len(chosen),
        executor=options.executor,
    )  # fmt: skip
    log.info(
        f"experiment '{experiment.name}': {trained} run(s) trained in {time.time() - started:.0f} s, the others were "
        f"finished; results under {run_folders.display_path(root / 'runs')}"
    )
    return trained


if __name__ == "__main__":
    moved_to("sftbench train-all")
