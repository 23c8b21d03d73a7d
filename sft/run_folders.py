"""Run folders: one self-describing directory per training run.

    results/runs/<task>/<model>-<method>/
        config.yaml        the exact resolved TrainConfig
        run.json           status (running | finished), versions, git commit, hardware, timings
        train_log.jsonl    one line per logged step: loss, eval_loss, learning_rate, epoch
        checkpoints/       Trainer checkpoints, for resuming (not kept in git)
        adapter/ | model/  the trained weights with the tokenizer and README.md, the model card (sft/model_card.py)
        merged/            base + adapter as one model, with merge=true (sft/export.py)
        tensorboard/       TensorBoard events, with report_to=tensorboard (the default; not kept in git)
        test_results.json  the benchmark's test metrics of these weights, for the model card

A run counts only once run.json says "finished"; anything else is an interrupted run to resume.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from sftbench_common.fileio import (
    append_jsonl,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_jsonl,
    short_hash,
)
from sftbench_common.hardware import describe_hardware, pick_precision
from sftbench_common.paths import REPO_ROOT

# Settings that change what happens around training, not the weights it produces: a finished run that differs
# from the config only in these is not trained again (and bench does not list them as overrides).
NOT_TRAINING_SETTINGS = ("report_to", "merge", "push_to_hub", "hub_model_id", "trunk_cache", "trunk_cache_gb")

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "datasets", "scikit-learn")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_commit() -> str | None:
    """HEAD, with '+dirty' when tracked code differs from it (results/ is output, not code, and is ignored)."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "") if head.returncode == 0 else None


COMMANDS_LOG = "commands.jsonl"  # beside runs/: each train-all and bench, its time, machine and commit


def record_command(results: Path, command: str, experiment: str, seconds: float, **work) -> None:
    """Append one line to <results>/commands.jsonl: the command's wall time with the CPU, precision and commit it
    ran on, so every timing the docs quote comes from a file a command wrote (`sftbench report` lists them)."""
    hardware = describe_hardware()
    append_jsonl(
        results / COMMANDS_LOG,
        {
            "command": command,
            "experiment": experiment,
            "seconds": round(seconds, 1),
            **work,
            "cpu": hardware["cpu"],
            "gpu": hardware.get("gpu"),
            "precision": pick_precision(),
            "git_commit": git_commit(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def read_run(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def is_finished(run_dir: Path) -> bool:
    return read_run(run_dir).get("status") == "finished"


def has_weights(run_dir: Path) -> bool:
    """A clone of the repository has the run's record (config, run.json, log) but not its weights."""
    return any((Path(run_dir) / name).is_dir() for name in ("adapter", "model"))


def status(run_dir: Path, config_yaml: str, split_hash: str | None = None) -> str:
    """new | interrupted | finished | changed (finished with another config than `config_yaml`) | stale
    (finished, but on another split of the task than `split_hash`, when one is given)."""
    if not run_dir.exists():
        return "new"
    if not is_finished(run_dir):
        return "interrupted"
    if split_hash is not None and read_run(run_dir).get("split_hash") != split_hash:
        return "stale"
    saved = run_dir / "config.yaml"
    return "finished" if saved.is_file() and not overrides(run_dir, config_yaml) else "changed"


@dataclass(frozen=True)
class Decision:
    """What a command does with a run folder, and why, in the words `train`, `train-all` and `--list` all print."""

    action: str  # skip | resume | train | refuse
    why: str
    checkpoint: Path | None = None  # resume: from here
    fresh: bool = False  # train: the folder is emptied first (new, or --force)


def decide(run_dir: Path, config_yaml: str, split_hash: str, force: bool = False) -> Decision:
    """The one rule for a run folder: skip a finished run, resume an interrupted one, train a new one (or a
    finished one whose weights are not here: git keeps only the record), and refuse, unless `force`, whatever
    would delete or overwrite the weights of a run trained with other settings or on another split."""
    shown = display_path(run_dir)
    if force:
        return Decision("train", "--force: trained again from scratch", fresh=True)
    state = status(run_dir, config_yaml, split_hash)
    if state == "new":
        return Decision("train", "new", fresh=True)
    previous = read_run(run_dir)
    if state in ("changed", "stale") and not has_weights(run_dir):
        what = describe_difference(run_dir, config_yaml, split_hash)
        return Decision(
            "train", f"finished with {what}, but its weights are not here (git keeps the record only)", fresh=True
        )
    if state in ("changed", "stale") or (
        state == "interrupted"
        and last_checkpoint(run_dir) is not None
        and (differences(run_dir, config_yaml) or previous.get("split_hash", split_hash) != split_hash)
    ):
        what = "finished" if state in ("changed", "stale") else "interrupted"
        return Decision(
            "refuse",
            f"{shown}: {what} with {describe_difference(run_dir, config_yaml, split_hash)}; nothing was changed. "
            f"Train it again with --force, or give this run a folder of its own with run_name=NAME",
        )
    if state == "interrupted":
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is None:
            return Decision("train", "interrupted before its first checkpoint: started again", fresh=True)
        return Decision("resume", f"interrupted: resumed from {checkpoint.name}", checkpoint=checkpoint)
    if not has_weights(run_dir):
        return Decision("train", "finished, but its weights are not here (git keeps the record only)", fresh=True)
    return Decision("skip", "finished")


def differences(run_dir: Path, config_yaml: str) -> dict[str, tuple]:
    """key -> (the run's value, the wanted value), for every setting that differs (NOT_TRAINING_SETTINGS aside)."""
    saved_path = run_dir / "config.yaml"
    saved = (yaml.safe_load(saved_path.read_text()) or {}) if saved_path.is_file() else {}
    wanted = yaml.safe_load(config_yaml) or {}
    keys = [k for k in dict.fromkeys([*saved, *wanted]) if k not in NOT_TRAINING_SETTINGS]
    return {k: (saved.get(k), wanted.get(k)) for k in keys if saved.get(k) != wanted.get(k)}


def describe_difference(run_dir: Path, config_yaml: str, split_hash: str) -> str:
    """'other settings (lr: 0.002 -> 0.0001, train_limit: 384 -> None)' or 'another split of the task (split
    a1b2 -> c3d4)'."""
    parts = []
    changed = differences(run_dir, config_yaml)
    if changed:
        shown = ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in list(changed.items())[:6])
        parts.append(f"other settings ({shown}{', ...' if len(changed) > 6 else ''})")
    old_split = read_run(run_dir).get("split_hash")
    if old_split and old_split != split_hash:
        parts.append(f"another split of the task (split {old_split} -> {split_hash})")
    return " and ".join(parts) or "another config"


def overrides(run_dir: Path, config_yaml: str) -> dict:
    """The settings a run was trained with that differ from `config_yaml` (its own config.yaml is the truth),
    leaving out NOT_TRAINING_SETTINGS."""
    saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    wanted = yaml.safe_load(config_yaml) or {}
    return {key: value for key, value in saved.items() if wanted.get(key) != value and key not in NOT_TRAINING_SETTINGS}


def start_run(run_dir: Path, config_yaml: str, hardware: dict, seed: int, split_hash: str) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", config_yaml)
    previous = read_run(run_dir)
    info = {
        "status": "running",
        "started": previous.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "attempts": previous.get("attempts", 0) + 1,
        "seed": seed,
        "split_hash": split_hash,
        "git_commit": git_commit(),
        "versions": versions(),
        "hardware": hardware,
    }
    atomic_write_json(run_dir / "run.json", info)
    return info


def finish_run(run_dir: Path, info: dict, **results) -> dict:
    info = {**info, **results, "status": "finished", "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(run_dir / "run.json", info)
    return info


def final_evaluation(trainer, global_step: int) -> dict:
    """The val metrics of the weights being saved: the last evaluation if it ran at the final step, else one
    more evaluation now (a sweep chooses its setting by these; sft/run_groups.py)."""
    if trainer.eval_dataset is None:
        return {}
    step = global_step
    if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        step = int(trainer.state.best_model_checkpoint.rsplit("-", 1)[-1])  # the weights saved are the best's
    last = next((r for r in reversed(trainer.state.log_history) if "eval_loss" in r and r.get("step") == step), None)
    if last is None:
        last = trainer.evaluate()
    return {k: v for k, v in last.items() if k.startswith("eval_") and isinstance(v, int | float)}


def val_metrics(run_dir: Path) -> dict:
    """A finished run's val metrics of its final weights (run.json; for older runs, the last evaluation logged)."""
    saved = read_run(run_dir).get("val_metrics")
    if saved:
        return saved
    log = Path(run_dir) / "train_log.jsonl"
    evaluations = [r for r in read_jsonl(log, tolerant=True) if "eval_loss" in r] if log.is_file() else []
    return {k: v for k, v in evaluations[-1].items() if k.startswith("eval_")} if evaluations else {}


RECORD_FILE = "sftbench_record.json"  # in each checkpoint: what a resumed run needs to keep its record whole


def record_keeper(trainer, resumed_from: Path | None):
    """A callback that keeps a resumed run's record equal to an uninterrupted run's. The Trainer starts its running
    sums afresh on a resume: the loss of the steps since the last log line (so the first line after the resume
    averages fewer steps), the run's total loss (train_loss becomes the mean of this attempt's steps), TRL's count
    of tokens (num_tokens restarts) and its per-step metrics since the last log. Each checkpoint saves them
    (RECORD_FILE) and a resume puts them back before its first step; `train_loss` in the final log line and in
    run.json is then the mean over every step of the run. Timings stay this attempt's (run.json says where it
    resumed). Placed first among the callbacks, so the log file and the trackers get the corrected line."""
    import torch
    from transformers import TrainerCallback

    class RecordKeeper(TrainerCallback):
        drained_before = 0.0  # the loss of the steps logged before this attempt began

        def on_train_begin(self, args, state, control, **kwargs):
            record = resumed_from / RECORD_FILE if resumed_from else None
            if record is None or not record.is_file():
                return
            saved = json.loads(record.read_text())
            self.drained_before = saved["drained_loss"]
            trainer._tr_loss = torch.tensor(saved["pending_loss"], device=args.device)
            trainer._globalstep_last_logged = saved["last_logged_step"]
            if saved.get("train_tokens") is not None and hasattr(trainer, "_total_train_tokens"):
                trainer._total_train_tokens = saved["train_tokens"]
            if saved.get("pending_metrics") and hasattr(trainer, "_metrics"):
                trainer._metrics["train"].update(saved["pending_metrics"])

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            record = {
                "drained_loss": self.drained_before + trainer._total_loss_scalar,
                "pending_loss": float(trainer._tr_loss),
                "last_logged_step": trainer._globalstep_last_logged,
                "train_tokens": getattr(trainer, "_total_train_tokens", None),
                "pending_metrics": dict(getattr(trainer, "_metrics", {}).get("train", {})),
            }
            atomic_write_json(Path(args.output_dir) / f"checkpoint-{state.global_step}" / RECORD_FILE, record)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "train_loss" in logs:
                logs["train_loss"] = self.mean_loss(state.global_step)

        def mean_loss(self, steps: int) -> float:
            return (self.drained_before + trainer._total_loss_scalar) / max(steps, 1)

    return RecordKeeper()


def train_and_save(trainer, weights_dir: Path, resume_from: Path | None) -> dict:
    """Train (resuming from a checkpoint if given), save the weights and tokenizer, and sum up for run.json."""
    keeper = record_keeper(trainer, resume_from)
    trainer.callback_handler.callbacks.insert(0, keeper)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final_val = final_evaluation(trainer, result.global_step)
    trainer.save_model(str(weights_dir))  # every process takes part (FSDP gathers the shards); the main one writes
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(weights_dir))
    best = {}
    if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        best = {
            "best_metric": trainer.state.best_metric,
            "best_step": int(trainer.state.best_model_checkpoint.rsplit("-", 1)[-1]),
            "metric_for_best_model": trainer.args.metric_for_best_model,
        }
    return {
        **best,
        "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
        "train_examples": len(trainer.train_dataset),
        "global_step": result.global_step,
        "train_loss": keeper.mean_loss(result.global_step),
        "train_runtime_s": result.metrics.get("train_runtime"),  # this attempt's
        **({"resumed_from_step": int(resume_from.name.rsplit("-", 1)[-1])} if resume_from else {}),
        "weights": weights_dir.name,
        "val_metrics": final_val,
    }


def fingerprint(run_dir: Path | None) -> str | None:
    """Changes whenever the run is trained again: its config and its finish time (bench rows record it)."""
    if run_dir is None:
        return None
    info = read_run(run_dir)
    return short_hash((run_dir / "config.yaml").read_text() + str(info.get("finished")))


def display_path(run_dir: Path | None) -> str | None:
    """The run folder relative to the repository when it is inside it (as bench rows store it)."""
    if run_dir is None:
        return None
    return str(run_dir.relative_to(REPO_ROOT)) if run_dir.is_relative_to(REPO_ROOT) else str(run_dir)


def resolve_path(stored: str) -> Path:
    """The inverse of display_path."""
    return Path(stored) if Path(stored).is_absolute() else REPO_ROOT / stored


def trim_log(log_path: Path, last_step: int) -> None:
    """Drop log lines past the checkpoint being resumed from, so resumed steps are not logged twice."""
    if log_path.is_file():
        atomic_write_jsonl(
            log_path, [row for row in read_jsonl(log_path, tolerant=True) if row.get("step", 0) <= last_step]
        )


def last_checkpoint(run_dir: Path) -> Path | None:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    complete = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)
