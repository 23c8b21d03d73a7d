"""`bench.run` end to end: rows and predictions written, the report rebuilt byte for byte, a killed run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO, run_module


def test_bench_run_and_report_rebuild_byte_for_byte(isolated_outputs, tmp_path):
    """`bench.run` on an experiment whose run is not trained: base rows and baselines, then the report."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "name: t\ntasks: [mushroom]\nbench_limit: 12\nruns:\n  - {model: smollm2-135m-instruct, method: lora}\n"
    )
    result = run_module("bench.run", "--experiment", str(experiment), "--batch-size", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not benchmarked" in result.stdout  # the untrained run is named, not silently counted
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = {p.stem: json.loads(p.read_text()) for p in (results / "mushroom" / "rows").glob("*.json")}
    assert set(rows) == {
        "smollm2-135m-instruct.base.score",
        "smollm2-135m-instruct.base.generate",
        "baseline.one-hot-decision-tree",
        "baseline.one-hot-logistic-regression",
    }
    score = rows["smollm2-135m-instruct.base.score"]
    predictions = [
        json.loads(line)
        for line in (results / "mushroom" / "predictions" / "smollm2-135m-instruct.base.score.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(predictions) == 12 and all(p["predicted"] in ("edible", "poisonous") for p in predictions)
    assert score["metrics"]["invalid_rate"] == 0
    assert rows["baseline.one-hot-decision-tree"]["metrics"]["accuracy"] == 1.0
    table = (results / "results.md").read_text()
    assert "| smollm2-135m-instruct | base | - | score |" in table
    assert "one-hot + decision tree" in table and "Sample answers" in table
    assert (results / "results.tex").read_text().count(r"\midrule") >= 1
    for figure in ("confusion_smollm2-135m-instruct.png", "confusion_baselines.png"):
        assert (results / "mushroom" / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    # Second run: every row is already there, nothing is recomputed.
    again = run_module("bench.run", "--experiment", str(experiment))
    assert again.returncode == 0 and "0 row(s) computed" in again.stdout
    before = (results / "results.md").read_bytes()
    (results / "results.md").unlink()
    assert run_module("bench.report").returncode == 0
    assert (results / "results.md").read_bytes() == before


def test_killed_bench_publishes_no_partial_table_and_resumes(isolated_outputs, tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "name: t\ntasks: [mushroom]\nbench_limit: 8\nruns:\n  - {model: smollm2-135m-instruct, method: lora}\n"
    )
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = results / "mushroom" / "rows"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--experiment", str(experiment)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (rows.is_dir() and any(rows.glob("*.json"))):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in rows.glob("*.json"))
    assert 1 <= len(finished) < 4, finished
    assert not (results / "results.md").exists()  # no table from a half-done benchmark
    assert all(json.loads(p.read_text())["metrics"] for p in rows.glob("*.json"))  # whole files only
    again = run_module("bench.run", "--experiment", str(experiment))
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{4 - len(finished)} row(s) computed" in again.stdout
    assert (results / "results.md").read_text().count(
        "| smollm2-135m-instruct | base | - |"
    ) == 2  # main table: score + generate, once each
