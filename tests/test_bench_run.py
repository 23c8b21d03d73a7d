"""`bench.run` end to end: rows and predictions written, the report rebuilt byte for byte, a killed run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO, notes_experiment, run_module


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
    # every row carries its uncertainty, its right/wrong answers (for the paired tests), device, precision, split
    low, high = score["intervals"]["accuracy"]
    assert low <= score["metrics"]["accuracy"] <= high and set(score["intervals"]) == {
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "macro_recall",
    }
    assert len(score["correct"]) == 12 and score["correct"].count("1") == round(12 * score["metrics"]["accuracy"])
    assert score["precision"] in ("bf16", "fp32") and rows["baseline.one-hot-decision-tree"]["precision"] is None
    assert score["split"].startswith("a seeded 80/10/10 stratified split of one source (seed 42)")
    table = (results / "results.md").read_text()
    assert "one-hot + decision tree" in table and "Sample answers" in table
    accuracy = f"{score['metrics']['accuracy']:.3f} [{low:.3f}, {high:.3f}]"
    assert f"| smollm2-135m-instruct | base | - | score | {accuracy} |" in table
    assert "Split: a seeded 80/10/10 stratified split" in table and "n = 12 of the 813 test records" in table
    header = (results / "results.csv").read_text().splitlines()[0]
    assert "accuracy,accuracy_low,accuracy_high,macro_f1,macro_f1_low" in header and "p_vs_base" in header
    assert (results / "results.tex").read_text().count(r"\midrule") >= 1
    for figure in ("confusion_smollm2-135m-instruct.png", "confusion_baselines.png"):
        assert (results / "mushroom" / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    # Second run: every row is already there, nothing is recomputed; a kept row takes today's place in the plan.
    tree = results / "mushroom" / "rows" / "baseline.one-hot-decision-tree.json"
    planned = json.loads(tree.read_text())["order"]
    tree.write_text(json.dumps({**json.loads(tree.read_text()), "order": 99}))
    again = run_module("bench.run", "--experiment", str(experiment))
    assert again.returncode == 0 and "0 row(s) computed" in again.stdout
    assert json.loads(tree.read_text())["order"] == planned
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


def test_a_run_trained_with_overrides_is_benchmarked_and_a_stale_one_is_not(isolated_outputs, tmp_path):
    """`make train-all ARGS="lr=..."` then a plain `make bench`: the run that was trained is the one measured,
    its overrides shown. After the data changes, the run (trained on the old split) is not mixed in."""
    data, experiment = notes_experiment(
        tmp_path, "epochs: 1, batch_size: 8, max_length: 32, eval_limit: 4, save_steps: 100, logging_steps: 2"
    )
    trained = run_module("sft.experiment", "--experiment", str(experiment), "lr=0.0003")
    assert trained.returncode == 0, trained.stderr[-3000:]
    benched = run_module("bench.run", "--experiment", str(experiment), "--no-baselines")
    assert benched.returncode == 0, benched.stderr[-3000:]
    assert "minilm-l6-full was trained with lr=0.0003; benchmarking that run" in benched.stdout
    results = Path(os.environ["SFTBENCH_RESULTS"])
    row = json.loads((results / "notes" / "rows" / "minilm-l6-full.head.json").read_text())
    assert row["overrides"] == {"lr": 0.0003} and row["examples"] == row["test_size"] == 4
    assert "| minilm-l6 | fine-tuned | full (lr=0.0003) | head |" in (results / "results.md").read_text()
    again = run_module("bench.run", "--experiment", str(experiment), "--no-baselines", "lr=0.0003")
    assert again.returncode == 0 and "0 row(s) computed" in again.stdout and "was trained with" not in again.stdout
    data.write_text(data.read_text() + "".join(f"one more {w} note,pos\n" for w in ("good", "nice", "neat")))
    stale = run_module("bench.run", "--experiment", str(experiment), "--no-baselines", "lr=0.0003")
    assert stale.returncode == 0, stale.stderr[-3000:]
    assert "minilm-l6-full is trained on an older split of the task, not benchmarked" in stale.stdout
    assert "| minilm-l6 | fine-tuned |" not in (results / "results.md").read_text()  # no stale row mixed in
    assert (results / "notes" / "rows" / "stale" / "minilm-l6-full.head.json").is_file()  # set aside, not deleted
