"""An experiment's runs on Ray (a local cluster of 2 CPUs) and through submitit (its local executor): the same
run folders, metrics and weights as the local executor; a failed run is reported and the others go on."""

import json
import time
from pathlib import Path

import pytest

from sft.executors import ClusterOptions, Outcome, run_in_waves, train_runs
from sft.experiment import load_experiment
from sftbench_common.errors import UserError
from tests.helpers import REPO, notes_experiment, run_sftbench

SMALL = "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100"
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # what Ray gives a task of 1 CPU; the same arithmetic, so the same bytes
# every call runs `python -m sftbench` in its own process: OMP_NUM_THREADS is read when torch starts, and the
# executors start processes of their own


def two_seeds(folder: Path) -> Path:
    _, experiment = notes_experiment(folder, SMALL)
    experiment.write_text(experiment.read_text().replace("method: full,", "method: full, seeds: [1, 2],"))
    return experiment


def trained(results: Path) -> dict[str, tuple[dict, bytes, tuple[str, str]]]:
    """Run folder name -> (its metrics, its weights' bytes, its start and finish times)."""
    found = {}
    for run_json in sorted(results.glob("runs/*/*/run.json")):
        run = json.loads(run_json.read_text())
        assert run["status"] == "finished", run_json
        metrics = {k: run[k] for k in ("global_step", "train_loss", "train_examples", "split_hash", "labels")}
        weights = (run_json.parent / "model" / "model.safetensors").read_bytes()
        found[run_json.parent.name] = (metrics, weights, (run["started"], run["finished"]))
    return found


@pytest.mark.slow
def test_ray_and_submitit_train_what_the_local_executor_trains(tmp_path, isolated_outputs):
    experiment = two_seeds(tmp_path)
    started = time.time()
    local = run_sftbench(
        "train-all",
        "--experiment",
        str(experiment),
        env={**ONE_THREAD, "SFTBENCH_RESULTS": str(tmp_path / "local")},
        separate_process=True,
    )
    local_seconds = time.time() - started
    assert local.returncode == 0, local.stderr[-3000:]
    expected = trained(tmp_path / "local")
    assert sorted(expected) == ["minilm-l6-full-seed1", "minilm-l6-full-seed2"]
    assert expected["minilm-l6-full-seed1"][1] != expected["minilm-l6-full-seed2"][1]  # the seeds differ

    started = time.time()
    on_ray = run_sftbench(
        "train-all", "--experiment", str(experiment), "--executor", "ray", "--workers", "2",
        env={"SFTBENCH_RESULTS": str(tmp_path / "ray")}, separate_process=True,
    )  # fmt: skip
    ray_seconds = time.time() - started
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "Ray cluster: 2 CPUs, 0 GPUs; each run takes 1 CPU(s) and 0 GPU(s)" in on_ray.stdout
    assert on_ray.stdout.count("[ ok ]") == 2, on_ray.stdout[-3000:]
    from_ray = trained(tmp_path / "ray")
    for name, (metrics, weights, _) in expected.items():
        assert from_ray[name][0] == metrics and from_ray[name][1] == weights, name
    # the two runs trained at once: each started before the other finished
    (start_1, end_1), (start_2, end_2) = (from_ray[name][2] for name in sorted(from_ray))
    assert start_1 < end_2 and start_2 < end_1

    again = run_sftbench(
        "train-all", "--experiment", str(experiment), "--executor", "ray", "--workers", "2",
        env={"SFTBENCH_RESULTS": str(tmp_path / "ray")}, separate_process=True,
    )  # fmt: skip
    assert again.returncode == 0 and again.stdout.count("[skip  ]") == 2 and "[ ok ]" not in again.stdout

    started = time.time()
    on_slurm = run_sftbench(
        "train-all", "--experiment", str(experiment), "--executor", "slurm", "--cluster", "local",
        env={**ONE_THREAD, "SFTBENCH_RESULTS": str(tmp_path / "slurm")}, separate_process=True,
    )  # fmt: skip
    slurm_seconds = time.time() - started
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    assert "submitit (local): job logs under" in on_slurm.stdout and on_slurm.stdout.count("[ ok ]") == 2
    from_slurm = trained(tmp_path / "slurm")
    for name, (metrics, weights, _) in expected.items():
        assert from_slurm[name][0] == metrics and from_slurm[name][1] == weights, name
    seconds = f"local {local_seconds:.0f} s, ray {ray_seconds:.0f} s, submitit local {slurm_seconds:.0f} s"
    print(f"wall time: {seconds}")  # for the record (pytest -s): the executors against the local one


@pytest.mark.slow
def test_a_failed_run_is_reported_and_the_others_go_on(tmp_path):
    _, experiment = notes_experiment(tmp_path, SMALL)
    experiment.write_text(experiment.read_text() + "  - {model: no-such-model, method: full}\n")
    done = run_sftbench(
        "train-all", "--experiment", str(experiment), "--executor", "slurm", "--cluster", "local", "--workers", "2",
        env={"SFTBENCH_RESULTS": str(tmp_path / "results")}, separate_process=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("[ ok ]") == 1 and len(trained(tmp_path / "results")) == 1
    failed = [line for line in done.stdout.splitlines() if "[fail]" in line]
    assert len(failed) == 1 and "no-such-model" in failed[0], done.stdout[-3000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 run(s) failed: ")


def test_waves_send_each_run_once_and_skip_finished_ones(isolated_outputs, tmp_path):
    """A sweep's chosen setting trains in a second wave; a run already tried is not sent again."""
    experiment = load_experiment(str(two_seeds(tmp_path)))
    configs = experiment.configs
    sent = []

    def submit(batch):
        sent.append([work.args[0].seed for work in batch])
        return [Outcome(work.name, 0.0) for work in batch]

    waves = [configs[:1], configs]  # the second wave repeats the first run and adds the other
    outcomes = run_in_waves(lambda: waves[min(len(sent), 1)], submit, False, isolated_outputs / "results")
    assert sent == [[1], [2]] and len(outcomes) == 2


def test_unknown_executor_and_missing_sbatch_are_one_clear_error(isolated_outputs, monkeypatch):
    with pytest.raises(UserError, match="--executor must be one of local, ray, slurm"):
        train_runs(lambda: [], ClusterOptions(executor="mpi"), force=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="no `sbatch` on this machine"):
        train_runs(lambda: [], ClusterOptions(executor="slurm"), force=False)


KILLER = '''
import os, threading, time
from pathlib import Path

def open_files() -> set[str]:
    """What this process's file descriptors point at; one closed while it looks (listdir's own) is skipped."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:
            pass
    return found

def watch(results: Path, run: str) -> None:
    """Kill this process (as the OS's out-of-memory killer would) once it trains `run` and has logged a step."""
    lock = (results / ".locks" / "runs" / "notes" / f"{run}.lock").resolve()
    log = results / "runs" / "notes" / run / "train_log.jsonl"
    while True:
        held = str(lock) in open_files()
        if held and log.is_file() and log.read_text().strip():
            os._exit(137)
        time.sleep(0.2)

if os.environ.get("SFTBENCH_TEST_KILL_RUN"):
    threading.Thread(target=watch, args=(Path(os.environ["SFTBENCH_RESULTS"]), os.environ["SFTBENCH_TEST_KILL_RUN"]),
                     daemon=True).start()
'''


@pytest.mark.slow
def test_a_ray_worker_that_dies_is_reported_and_the_others_finish(tmp_path):
    """A run whose worker process exits with 137 in mid-training (what the out-of-memory killer does) is one
    [fail] line; the other run finishes; the summary names it and the command exits 2. The kill comes from a
    sitecustomize module the test puts on the workers' path: the toolkit has no hook for it."""
    experiment = two_seeds(tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILLER)
    results = tmp_path / "ray"
    done = run_sftbench(
        "train-all", "--experiment", str(experiment), "--executor", "ray", "--workers", "2",
        env={"SFTBENCH_RESULTS": str(results), "PYTHONPATH": f"{hooks}:{REPO}",
             "SFTBENCH_TEST_KILL_RUN": "minilm-l6-full-seed2"},
        separate_process=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    failed = [line for line in done.stdout.splitlines() if "[fail]" in line]
    assert len(failed) == 1 and "minilm-l6-full-seed2" in failed[0], done.stdout[-3000:]
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in results.glob("runs/notes/*/run.json")}
    assert done.stdout.count("[ ok ]") == 1 and status == {
        "minilm-l6-full-seed1": "finished",
        "minilm-l6-full-seed2": "running",
    }
    assert done.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 run(s) failed: ")
