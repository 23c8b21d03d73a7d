"""Nothing a user trained is lost: one rule (sft/run_folders.py decide) says for `train`, `train-all` and `--list`
whether a run is skipped, resumed, trained or refused; a finished run trained with other settings or on another
split is never overwritten without --force; `sftbench train` names a run's folder after its settings; filters
that match nothing are one error."""

import json
from pathlib import Path

import pytest

from sft import run_folders
from sft.config import build_config, to_yaml
from tests.helpers import notes_experiment, run_sftbench

SMALL = "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100, lr: 1.0e-4"


def weights(results: Path) -> bytes:
    return next(results.glob("runs/notes/*/model/model.safetensors")).read_bytes()


@pytest.mark.slow
def test_a_finished_run_with_other_settings_is_refused_and_kept(tmp_path, isolated_outputs):
    """Train, change lr, train-all again: the first run's weights are intact and the command says why it
    stopped and the ways on; --list says the same beforehand; --force trains it again."""
    _, experiment = notes_experiment(tmp_path, SMALL)
    first = run_sftbench("train-all", "--experiment", str(experiment))
    assert first.returncode == 0, first.stderr[-3000:]
    results = isolated_outputs / "results"
    trained = weights(results)
    experiment.write_text(experiment.read_text().replace("lr: 1.0e-4", "lr: 3.0e-4"))

    listed = run_sftbench("train-all", "--experiment", str(experiment), "--list")
    assert listed.returncode == 0
    line = next(line for line in listed.stdout.splitlines() if "[refuse]" in line)
    assert "finished with other settings (lr: 0.0001 -> 0.0003)" in line, listed.stdout

    again = run_sftbench("train-all", "--experiment", str(experiment))
    assert again.returncode == 2
    assert weights(results) == trained  # nothing was deleted or overwritten
    failed = [line for line in again.stdout.splitlines() if "[fail]" in line]
    assert len(failed) == 1 and "lr: 0.0001 -> 0.0003" in failed[0] and "--force" in failed[0], again.stdout
    assert "run_name=NAME" in failed[0]
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 1 run(s) failed: ") and "results/runs/notes/minilm-l6-full" in last

    forced = run_sftbench("train-all", "--experiment", str(experiment), "--force")
    assert forced.returncode == 0 and weights(results) != trained
    config = json.loads(next(results.glob("runs/notes/*/run.json")).read_text())
    assert config["status"] == "finished"


def test_the_rule_in_every_case(tmp_path):
    config = build_config(({"task": "mushroom", "lr": 1e-4}, "test"))
    wanted = to_yaml(config)
    run_dir = tmp_path / "run"
    assert run_folders.decide(run_dir, wanted, "split-a").action == "train"  # new
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(wanted)
    (run_dir / "run.json").write_text(json.dumps({"status": "running", "split_hash": "split-a"}))
    assert run_folders.decide(run_dir, wanted, "split-a").why.startswith("interrupted before its first checkpoint")
    (run_dir / "checkpoints" / "checkpoint-6").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-6" / "trainer_state.json").write_text("{}")
    resume = run_folders.decide(run_dir, wanted, "split-a")
    assert resume.action == "resume" and resume.checkpoint.name == "checkpoint-6"
    other = to_yaml(build_config(({"task": "mushroom", "lr": 2e-4}, "test")))
    assert run_folders.decide(run_dir, other, "split-a").action == "refuse"  # an interrupted run of other settings
    (run_dir / "run.json").write_text(json.dumps({"status": "finished", "split_hash": "split-a"}))
    assert run_folders.decide(run_dir, wanted, "split-a").why.startswith("finished, but its weights are not here")
    record_only = run_folders.decide(run_dir, other, "split-b")  # a clone's record of other settings: no weights
    assert record_only.action == "train" and record_only.why.endswith(
        "but its weights are not here (git keeps the record only)"
    )
    (run_dir / "adapter").mkdir()
    assert run_folders.decide(run_dir, wanted, "split-a").action == "skip"
    stale = run_folders.decide(run_dir, wanted, "split-b")
    assert stale.action == "refuse" and "another split of the task (split split-a -> split-b)" in stale.why
    changed = run_folders.decide(run_dir, other, "split-a")
    assert changed.action == "refuse" and "(lr: 0.0001 -> 0.0002)" in changed.why
    forced = run_folders.decide(run_dir, other, "split-b", force=True)
    assert forced.action == "train" and forced.fresh
    reported = to_yaml(build_config(({"task": "mushroom", "lr": 1e-4, "report_to": "none"}, "test")))
    assert run_folders.decide(run_dir, reported, "split-a").action == "skip"  # a tracker changes no weights


@pytest.mark.parametrize(
    "args,folder",
    [
        (["task=mushroom"], "smollm2-135m-instruct-lora"),
        (["task=mushroom", "lr=1e-4"], "smollm2-135m-instruct-lora-lr0.0001"),
        (["task=mushroom", "preset=cpu-fast", "method=lora"], "smollm2-135m-instruct-lora-cpu-fast"),
        (["task=mushroom", "lr=1e-4", "run_name=mine"], "mine"),
        (["task=mushroom", "seed=7", "report_to=none"], "smollm2-135m-instruct-lora-seed7"),
    ],
)
def test_a_run_trained_on_its_own_is_named_after_its_settings(args, folder):
    done = run_sftbench("train", *args, "--print-config")
    assert done.returncode == 0, done.stderr
    shown = dict(line.split(": ", 1) for line in done.stdout.splitlines() if line.startswith("run_name: "))
    assert shown.get("run_name", "smollm2-135m-instruct-lora") == folder


@pytest.mark.parametrize(
    "command,args,message",
    [
        ("train-all", ["--tasks", "tweet"], "--tasks: experiment 'default' has no task 'tweet'; did you mean tweets?"),
        ("train-all", ["--only", "gemma"], "--only 'gemma' matches no run of experiment 'default'"),
        ("train-all", ["--list", "--tasks", "mushrooms"], "did you mean mushroom?"),
        ("bench", ["--tasks", "movie_reviews"], "did you mean movie-reviews?"),
        ("plan", ["--only", "qlora", "--no-measure"], "matches no run"),
    ],
)
def test_filters_that_match_nothing_are_one_error(command, args, message):
    done = run_sftbench(command, *args)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: ") and message in done.stderr, done.stderr
