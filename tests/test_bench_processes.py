"""One task's records across processes: `accelerate launch --num_processes 2 -m sftbench bench` on CPU (gloo)
shares each row's batches out, whole, gathers them on every process, and the main one alone writes: the rows
equal a single process's (the same answers, the same metrics to the last digit)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_sftbench

TIMINGS = ("seconds", "examples_per_s", "peak_memory_mb")


def rows(results: Path) -> dict[str, dict]:
    return {
        p.stem: {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMINGS}
        for p in sorted((results / "mushroom" / "rows").glob("*.json"))
    }


@pytest.mark.slow
def test_two_processes_bench_the_rows_one_process_does(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        # 5 batches of 16. The base model's score row also answers for its generate row, so its batches go out in
        # groups of 4 (the records whose answers decode together): four on one process, one on the other.
        "name: t\ntasks: [mushroom]\nbench_limit: 80\nruns:\n"
        "  - {model: smollm2-135m-instruct, method: lora}\n  - {model: minilm-l6, method: full}\n"
    )
    args = ["--experiment", str(experiment), "--batch-size", "16", "--no-baselines"]
    env = {"OMP_NUM_THREADS": "1", "SFTBENCH_RESULTS": str(tmp_path / "one")}
    single = run_sftbench("bench", *args, env=env, separate_process=True)
    assert single.returncode == 0, single.stderr[-3000:]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(REPO / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", "2", "-m", "sftbench", "bench", *args,
    ]  # fmt: skip
    launched = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=900,
        env={**os.environ, **env, "SFTBENCH_RESULTS": str(tmp_path / "two")},
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("report: ") == 1  # the main process alone builds the tables
    one, two = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert set(one) == {
        "smollm2-135m-instruct.base.score",
        "smollm2-135m-instruct.base.generate",
        "minilm-l6.base.head",
    }
    assert two == one
    logged = [json.loads(line) for line in (tmp_path / "two" / "commands.jsonl").read_text().splitlines()]
    assert [entry["processes"] for entry in logged] == [2]
