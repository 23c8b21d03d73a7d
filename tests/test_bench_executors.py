"""bench on Ray and through submitit (its local executor): each task's rows on a worker, the same row files as the
local bench (timings aside), the tables built once by the driver; a task that fails is reported while the other
finishes, and the command exits 2 with the summary."""

import json
from pathlib import Path

import pytest

from tests.helpers import notes_experiment, run_sftbench

SMALL = "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100"
TIMINGS = ("seconds", "examples_per_s", "peak_memory_mb")


def two_tasks(folder: Path) -> Path:
    """The notes task and a copy of it under another name: two tasks, one MiniLM run each."""
    data, experiment = notes_experiment(folder, SMALL)
    memos = folder / "memos.csv"
    memos.write_text(data.read_text().replace("note", "memo"))
    text = experiment.read_text().replace("tasks: [", f"tasks: [{{task: 'csv:{memos}', text_column: text}}, ")
    experiment.write_text(text)
    return experiment


def rows(results: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(results.glob("*/rows/*.json")):
        row = json.loads(path.read_text())
        found[f"{path.parent.parent.name}/{path.stem}"] = {k: v for k, v in row.items() if k not in TIMINGS}
    return found


@pytest.mark.slow
def test_ray_and_submitit_bench_what_the_local_bench_does(tmp_path):
    experiment = two_tasks(tmp_path)
    env = {"SFTBENCH_RESULTS": str(tmp_path / "results"), "OMP_NUM_THREADS": "1"}
    trained = run_sftbench("train-all", "--experiment", str(experiment), env=env, separate_process=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    found = {}
    for name, extra in (
        ("local", []),
        ("ray", ["--executor", "ray", "--workers", "2"]),
        ("slurm", ["--executor", "slurm", "--cluster", "local"]),
    ):
        done = run_sftbench("bench", "--experiment", str(experiment), "--force", *extra, env=env, separate_process=True)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("[ ok ]") >= 2 and "[fail]" not in done.stdout
        found[name] = rows(tmp_path / "results")
        assert {key.split("/")[0] for key in found[name]} == {"notes", "memos"}
        for task in ("notes", "memos"):  # each task's table has its fine-tuned row
            assert "| minilm-l6 | fine-tuned | full |" in (tmp_path / "results" / task / "table.md").read_text()
    assert found["ray"] == found["local"] and found["slurm"] == found["local"]


@pytest.mark.slow
def test_a_task_that_fails_is_reported_and_the_other_is_benchmarked(tmp_path):
    experiment = two_tasks(tmp_path)
    broken = (
        experiment.read_text()
        + "  - {model: no-such-model, method: full, tasks: [{task: 'csv:"
        + str(tmp_path / "memos.csv")
        + "', text_column: text}]}\n"
    )
    experiment.write_text(broken)
    env = {"SFTBENCH_RESULTS": str(tmp_path / "results")}
    done = run_sftbench(
        "bench", "--experiment", str(experiment), "--executor", "slurm", "--cluster", "local", env=env,
        separate_process=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    failed = [line for line in done.stdout.splitlines() if "[fail]" in line]
    assert len(failed) == 1 and "memos" in failed[0] and "no-such-model" in failed[0], done.stdout[-3000:]
    assert "[ ok ] notes" in done.stdout
    assert (tmp_path / "results" / "notes" / "rows").is_dir() and (tmp_path / "results" / "results.md").is_file()
    assert done.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 task(s) failed: memos")
