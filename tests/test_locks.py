"""Two writers at once: a second training of the same run folder, or a second bench of the same results folder,
stops with one line naming the holder's host and pid; bench leaves out a run that is still training; a lock left by a
killed process blocks nothing."""

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.rows import trained_runs
from sft.config import build_config
from sftbench_common.locks import holder, lock_path
from tests.helpers import REPO, run_sftbench


def hold(target: Path) -> subprocess.Popen:
    """Another process holding `target`'s lock (as a training or bench in progress would), until killed."""
    code = (
        "import sys, time; from pathlib import Path; from sftbench_common.locks import exclusive\n"
        "with exclusive(Path(sys.argv[1]), 'job', 'wait'):\n"
        "    print('held', flush=True); time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_training_of_a_run_stops_and_a_killed_holder_blocks_nothing(isolated_outputs):
    run_dir = isolated_outputs / "results" / "runs" / "mushroom" / "smollm2-135m-instruct-lora"
    other = hold(run_dir)
    try:
        assert holder(run_dir) == f"{socket.gethostname()} pid {other.pid}"
        done = run_sftbench(
            "train", "task=mushroom", "train_limit=8", "eval_limit=4", "max_steps=1", f"run_name={run_dir.name}"
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip() == (
            f"error: {run_dir}: another training of this run is in progress ({socket.gethostname()} pid "
            f"{other.pid}); wait for it to finish or stop it, then run this again (it resumes)"
        )
        assert not run_dir.exists()  # nothing written while the other holds it
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    assert lock_path(run_dir).is_file()  # the killed holder's file is still there...
    assert holder(run_dir) is None  # ...but the OS dropped its lock with the process


def test_bench_leaves_out_a_run_still_training(isolated_outputs, capsys):
    config = build_config(({"task": "mushroom", "model": "smollm2-135m-instruct", "method": "lora"}, "test"))
    run_dir = config.run_dir(isolated_outputs / "results")
    run_dir.mkdir(parents=True)  # started, not finished: `interrupted` unless its lock is held
    other = hold(run_dir)
    try:
        assert trained_runs("mushroom", [config], "any-split") == [(config, None, {})]
        assert (
            f"{run_dir.name} is still training ({socket.gethostname()} pid {other.pid}), not benchmarked"
            in capsys.readouterr().out
        )
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    trained_runs("mushroom", [config], "any-split")
    assert f"{run_dir.name} is interrupted, not benchmarked" in capsys.readouterr().out


def test_a_second_bench_of_a_results_folder_stops(isolated_outputs, tmp_path):
    results = Path(os.environ["SFTBENCH_RESULTS"])
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: t\ntasks: [mushroom]\nbench_limit: 4\nruns:\n  - {model: minilm-l6, method: full}\n")
    other = hold(results)
    try:
        started = time.time()
        done = run_sftbench("bench", "--experiment", str(experiment), "--no-baselines")
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip() == (
            f"error: {results}: another bench of this results folder is in progress ({socket.gethostname()} pid "
            f"{other.pid}); wait for it to finish or stop it"
        )
        assert not (results / "mushroom" / "rows").exists() and time.time() - started < 300
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()


def test_a_file_system_without_locks_is_one_clear_error(isolated_outputs, monkeypatch):
    """Lustre without -o flock, NFS without its lock daemon: flock fails with ENOLCK; the command says so and
    how to go on, instead of a traceback."""
    import fcntl

    import pytest

    from sftbench_common.errors import UserError
    from sftbench_common.locks import exclusive

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    target = isolated_outputs / "results" / "runs" / "t" / "r"
    with pytest.raises(UserError, match=r"does not support file locks \(No locks available\); put the results"):
        with exclusive(target, "training of this run", "wait"):
            pass
    assert holder(target) is None
