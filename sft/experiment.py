"""Train every run of an experiment that has not finished yet (`make train-all`).

An experiment file lists tasks x models x methods:

    name: default
    preset: cpu-fast              # applied to every run unless the run names another
    overrides: {seed: 42}         # any TrainConfig key, for every run
    tasks: [mushroom]
    runs:
      - {model: smollm2-135m-instruct, method: lora}
      - {model: minilm-l6, method: full, tasks: [mushroom, tweets]}   # a run may name its own tasks

Each (task, run) pair trains into results/runs/<task>/<model>-<method>/. Finished runs are skipped,
interrupted ones resume from their last checkpoint, so running it again after a crash just continues.
`--plan` trains nothing and prints per run the examples, tokens, optimizer steps and an estimated time
here and on a GPU (sft/plan.py). Under `accelerate launch` every run trains on all the processes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError, run_cli
from common.paths import REPO_ROOT, results_dir
from sft import run_folders
from sft.config import TrainConfig, build_config, parse_overrides, read_yaml, to_yaml
from sft.plan import GPUS, print_plan
from sft.train import say, train

EXPERIMENT_KEYS = {"name", "preset", "overrides", "tasks", "runs", "description", "bench_limit"}
RUN_KEYS = {"model", "method", "tasks", "preset", "overrides"}


@dataclass
class Experiment:
    name: str
    path: Path
    configs: list[TrainConfig]
    bench_limit: int | None = None  # benchmark the first N test records of each task (None: all)

    @property
    def tasks(self) -> list[tuple[str, dict]]:
        seen = {}
        for config in self.configs:
            seen.setdefault(
                (config.task, repr(sorted(config.task_options.items()))), (config.task, config.task_options)
            )
        return list(seen.values())


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


def load_experiment(name_or_path: str, cli_overrides: dict | None = None) -> Experiment:
    path = find_experiment(name_or_path)
    spec = read_yaml(path)
    unknown = set(spec) - EXPERIMENT_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(EXPERIMENT_KEYS)}")
    if not spec.get("runs"):
        raise UserError(f"{path}: no runs listed")
    configs = []
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
            configs.append(
                build_config((base, f"{path}: overrides"), (this, origin), (cli_overrides or {}, "command line"))
            )
    if not configs:
        raise UserError(f"{path}: no tasks listed")
    return Experiment(spec.get("name", path.stem), path, configs, spec.get("bench_limit"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sft.experiment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="TrainConfig overrides for every run")
    parser.add_argument("--experiment", default="default", help="name under configs/experiments/ or a YAML path")
    parser.add_argument("--only", help="train only runs whose folder path contains this text, e.g. mushroom/smollm2")
    parser.add_argument("--force", action="store_true", help="retrain finished runs from scratch")
    parser.add_argument("--list", action="store_true", help="list the runs and their status, train nothing")
    parser.add_argument(
        "--plan",
        action="store_true",
        help="per run: training examples, tokens, optimizer steps and the estimated time on this machine (from "
        "a few measured steps) and on --gpu (from its documented throughput); trains nothing",
    )
    parser.add_argument("--gpu", default="T4", choices=sorted(GPUS), help="the GPU --plan estimates for (default T4)")
    parser.add_argument(
        "--no-measure",
        action="store_true",
        help="--plan without timing steps here (the models still load, to count tokens)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    experiment = load_experiment(args.experiment, parse_overrides(args.overrides))
    selected = [c for c in experiment.configs if not args.only or args.only in str(c.run_dir(results_dir()))]
    say(f"experiment '{experiment.name}' ({experiment.path}): {len(selected)} run(s)")
    for config in selected:
        run_dir = config.run_dir(results_dir())
        state = run_folders.state(run_dir, to_yaml(config))
        shown = run_dir.relative_to(results_dir().parent) if run_dir.is_relative_to(results_dir().parent) else run_dir
        say(f"  [{state:>11}] {shown}")
    if args.list:
        return 0
    if args.plan:
        print_plan(selected, gpu=args.gpu, measure=not args.no_measure)
        return 0
    started = time.time()
    for config in selected:
        train(config, force=args.force)
    say(
        f"experiment '{experiment.name}': all {len(selected)} run(s) finished in {time.time() - started:.0f} s; "
        f"results under {results_dir() / 'runs'}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
