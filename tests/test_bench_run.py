"""`sftbench bench` end to end: rows and predictions written, the report rebuilt byte for byte, a killed run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO, notes_experiment, run_sftbench


def test_bench_run_and_report_rebuild_byte_for_byte(isolated_outputs, tmp_path):
    """`sftbench bench` on an experiment whose run is not trained: base rows and baselines, then the report."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "name: t\ntasks: [mushroom]\nbench_limit: 12\nfewshot: [0, 2]\n"
        "runs:\n  - {model: smollm2-135m-instruct, method: lora}\n"
    )
    result = run_sftbench("bench", "--experiment", str(experiment), "--batch-size", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not benchmarked" in result.stdout  # the untrained run is named, not silently counted
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = {p.stem: json.loads(p.read_text()) for p in (results / "mushroom" / "rows").glob("*.json")}
    assert set(rows) == {
        "smollm2-135m-instruct.base.score",
        "smollm2-135m-instruct.base.generate",
        "smollm2-135m-instruct.base-2shot.score",
        "smollm2-135m-instruct.base-2shot.generate",
        "baseline.decision-tree",
        "baseline.gradient-boosted-trees",
        "baseline.logistic-regression",
    }
    # the in-context rows: the same 2 train records in both modes, never a val or test record
    two_shot = rows["smollm2-135m-instruct.base-2shot.score"]
    assert two_shot["shots"] == 2 and len(two_shot["demonstrations"]) == 2
    assert two_shot["demonstrations"] == rows["smollm2-135m-instruct.base-2shot.generate"]["demonstrations"]
    data = Path(os.environ["SFTBENCH_DATA"]) / "mushroom"
    ids = {
        s: {json.loads(x)["id"] for x in (data / f"{s}.jsonl").read_text().splitlines()}
        for s in ("train", "val", "test")
    }
    assert set(two_shot["demonstrations"]) <= ids["train"] and not set(two_shot["demonstrations"]) & (
        ids["val"] | ids["test"]
    )
    score = rows["smollm2-135m-instruct.base.score"]
    predictions = [
        json.loads(line)
        for line in (results / "mushroom" / "predictions" / "smollm2-135m-instruct.base.score.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(predictions) == 12 and all(p["predicted"] in ("edible", "poisonous") for p in predictions)
    assert score["metrics"]["invalid_rate"] == 0
    assert rows["baseline.decision-tree"]["metrics"]["accuracy"] == 1.0
    # every row carries its uncertainty, its right/wrong answers (for the paired tests), device, precision, split
    low, high = score["intervals"]["accuracy"]
    assert low <= score["metrics"]["accuracy"] <= high and set(score["intervals"]) == {
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "macro_recall",
    }
    assert len(score["correct"]) == 12 and score["correct"].count("1") == round(12 * score["metrics"]["accuracy"])
    assert score["precision"] in ("bf16", "fp32") and rows["baseline.decision-tree"]["precision"] is None
    assert score["split"].startswith("a seeded 80/10/10 stratified split of one source (seed 42)")
    table = (results / "results.md").read_text()
    assert "decision tree" in table and "Sample answers" in table
    accuracy = f"{score['metrics']['accuracy']:.3f} [{low:.3f}, {high:.3f}]"
    assert f"| smollm2-135m-instruct | base | - | score | {accuracy} |" in table
    assert "| smollm2-135m-instruct | base, 2-shot | - | score |" in table
    assert (
        "Split: a seeded 80/10/10 stratified split" in table and "n = 12: the first 12 of the 813 test records" in table
    )
    header = (results / "results.csv").read_text().splitlines()[0]
    assert "accuracy,accuracy_low,accuracy_high,macro_f1,macro_f1_low" in header and "p_vs_base" in header
    assert (results / "results.tex").read_text().count(r"\midrule") >= 1
    for figure in ("confusion_smollm2-135m-instruct.png", "confusion_baselines.png"):
        assert (results / "mushroom" / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    # Second run: every row is already there, nothing is recomputed; a kept row takes today's place in the plan.
    tree = results / "mushroom" / "rows" / "baseline.decision-tree.json"
    planned = json.loads(tree.read_text())["order"]
    tree.write_text(json.dumps({**json.loads(tree.read_text()), "order": 99}))
    again = run_sftbench("bench", "--experiment", str(experiment))
    assert again.returncode == 0 and "0 row(s) computed" in again.stdout
    assert json.loads(tree.read_text())["order"] == planned
    # other demonstrations are another measurement: 4 shots are computed, the 2-shot rows stay as they were
    experiment.write_text(experiment.read_text().replace("fewshot: [0, 2]", "fewshot: [0, 2, 4]"))
    more = run_sftbench("bench", "--experiment", str(experiment), "--modes", "score", "--no-baselines")
    assert more.returncode == 0 and "1 row(s) computed" in more.stdout, more.stdout[-2000:]
    before = (results / "results.md").read_bytes()
    (results / "results.md").unlink()
    assert run_sftbench("report").returncode == 0
    assert (results / "results.md").read_bytes() == before


def test_killed_bench_publishes_no_partial_table_and_resumes(isolated_outputs, tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "name: t\ntasks: [mushroom]\nbench_limit: 8\nruns:\n  - {model: smollm2-135m-instruct, method: lora}\n"
    )
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = results / "mushroom" / "rows"
    process = subprocess.Popen(
        [sys.executable, "-m", "sftbench", "bench", "--experiment", str(experiment)],
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
    assert not (results / "results.md").exists()  # no table from a half-done benchmark
    assert all(json.loads(p.read_text())["metrics"] for p in rows.glob("*.json"))  # whole files only
    again = run_sftbench("bench", "--experiment", str(experiment))
    assert again.returncode == 0, again.stderr[-2000:]
    # base score and generate, three tabular baselines: the killed bench had finished some of them, not all
    every = sorted(p.name for p in rows.glob("*.json"))
    assert len(every) == 5 and 1 <= len(finished) < 5 and set(finished) <= set(every), (finished, every)
    assert f"{5 - len(finished)} row(s) computed" in again.stdout
    main_table = [line for line in (results / "results.md").read_text().splitlines() if "%" in line]  # Invalid
    assert sum(line.startswith("| smollm2-135m-instruct | base | - |") for line in main_table) == 2  # score, generate


def test_a_run_trained_with_overrides_is_benchmarked_and_a_stale_one_is_not(isolated_outputs, tmp_path):
    """`make train-all ARGS="lr=..."` then a plain `make bench`: the run that was trained is the one measured,
    its overrides shown. After the data changes, the run (trained on the old split) is not mixed in."""
    data, experiment = notes_experiment(
        tmp_path, "epochs: 1, batch_size: 8, max_length: 32, eval_limit: 4, save_steps: 100, logging_steps: 2"
    )
    trained = run_sftbench("train-all", "--experiment", str(experiment), "lr=0.0003")
    assert trained.returncode == 0, trained.stderr[-3000:]
    benched = run_sftbench("bench", "--experiment", str(experiment), "--no-baselines")
    assert benched.returncode == 0, benched.stderr[-3000:]
    assert "minilm-l6-full was trained with lr=0.0003; benchmarking that run" in benched.stdout
    results = Path(os.environ["SFTBENCH_RESULTS"])
    row = json.loads((results / "notes" / "rows" / "minilm-l6-full.head.json").read_text())
    assert row["overrides"] == {"lr": 0.0003} and row["examples"] == row["test_size"] == 4
    assert "| minilm-l6 | fine-tuned | full (lr=0.0003) | head |" in (results / "results.md").read_text()
    again = run_sftbench("bench", "--experiment", str(experiment), "--no-baselines", "lr=0.0003")
    assert again.returncode == 0 and "0 row(s) computed" in again.stdout and "was trained with" not in again.stdout
    data.write_text(data.read_text() + "".join(f"one more {w} note,pos\n" for w in ("good", "nice", "neat")))
    stale = run_sftbench("bench", "--experiment", str(experiment), "--no-baselines", "lr=0.0003")
    assert stale.returncode == 0, stale.stderr[-3000:]
    assert "minilm-l6-full is trained on an older split of the task, not benchmarked" in stale.stdout
    assert "| minilm-l6 | fine-tuned |" not in (results / "results.md").read_text()  # no stale row mixed in
    assert (results / "notes" / "rows" / "stale" / "minilm-l6-full.head.json").is_file()  # set aside, not deleted


def test_seeds_a_sweep_chosen_on_val_and_a_learning_curve_from_train_all_to_the_report(isolated_outputs, tmp_path):
    """MiniLM on a small CSV: a 2-setting sweep at 2 seeds and a 2-point learning curve at 2 seeds. Only the
    setting chosen on the val records is measured on test; the table shows each setting's seeds as one line;
    the baselines train on the curve's subsets; the figures are drawn; the report rebuilds byte for byte."""
    data, experiment = notes_experiment(tmp_path, "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100")
    settings = "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100, logging_steps: 2, eval_limit: 8"
    experiment.write_text(
        f"name: t\ntasks: [{{task: 'csv:{data}', text_column: text}}]\nbench_limit: 0\nruns:\n"
        f"  - {{model: minilm-l6, method: full, seeds: [1, 2], sweep: {{lr: [1.0e-5, 3.0e-4]}},\n"
        f"     overrides: {{{settings}}}}}\n"
        f"  - {{model: minilm-l6, method: full, seeds: [1, 2], learning_curve: [12, 24], overrides: {{{settings}}}}}\n"
    )
    listed = run_sftbench("train-all", "--experiment", str(experiment), "--list")
    assert "the setting chosen on val, at seeds [2]" in listed.stdout, listed.stdout
    trained = run_sftbench("train-all", "--experiment", str(experiment))
    assert trained.returncode == 0, trained.stderr[-3000:]
    runs = Path(os.environ["SFTBENCH_RESULTS"]) / "runs" / "notes"
    val = {p.name: json.loads((p / "run.json").read_text())["val_metrics"] for p in runs.iterdir()}
    assert len(val) == 3 + 4, sorted(val)  # the grid at seed 1, the chosen setting at seed 2; 2 sizes x 2 seeds
    grid = {lr: val[f"minilm-l6-full-lr{lr}-seed1"] for lr in ("1e-05", "0.0003")}
    chosen = max(grid, key=lambda lr: (grid[lr]["eval_label_accuracy"], -grid[lr]["eval_loss"]))
    assert f"chosen on val: lr={chosen} (among 2 settings)" in trained.stdout
    assert f"minilm-l6-full-lr{chosen}-seed2" in val
    benched = run_sftbench("bench", "--experiment", str(experiment))
    assert benched.returncode == 0, benched.stderr[-3000:]
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = {p.stem: json.loads(p.read_text()) for p in (results / "notes" / "rows").glob("*.json")}
    other = next(lr for lr in grid if lr != chosen)
    assert f"minilm-l6-full-lr{other}-seed1.head" not in rows  # a setting not chosen is never measured on test
    assert {f"minilm-l6-full-lr{chosen}-seed{s}.head" for s in (1, 2)} <= set(rows)
    assert rows[f"minilm-l6-full-lr{chosen}-seed2.head"]["sweep"]["chosen"] == {"lr": float(chosen)}
    assert {f"minilm-l6-full-n{n}-seed{s}.head" for n in (12, 24) for s in (1, 2)} <= set(rows)
    assert rows["baseline.tf-idf-logistic-regression.n12"]["train_size"] == 12  # baselines on the same subsets
    table = (results / "results.md").read_text()
    line = next(x for x in table.splitlines() if f"lr={chosen}: chosen on val among 2" in x)
    accuracies = [rows[f"minilm-l6-full-lr{chosen}-seed{s}.head"]["metrics"]["accuracy"] for s in (1, 2)]
    # one line: the mean with its interval over seeds and records, the seeds' sd and range; 2 seeds
    assert f"{sum(accuracies) / 2:.3f} [" in line and " sd " in line and "| 2 |" in line
    assert sum("(n=12)" in x for x in table.splitlines() if x.startswith("| minilm-l6 | fine-tuned")) == 1
    csv_lines = (results / "results.csv").read_text().splitlines()
    assert sum(f"lr={chosen}: chosen on val" in x for x in csv_lines) == 3  # each seed, then the mean line
    for figure in ("learning_curve.png", "sweep.png"):
        assert (results / "notes" / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    # Asked for explicitly, the other setting is measured too, and marked as not chosen.
    every = run_sftbench("bench", "--experiment", str(experiment), "--all-settings")
    assert every.returncode == 0 and "1 row(s) computed" in every.stdout, every.stdout[-2000:]
    assert f"lr={other}: not chosen on val" in (results / "results.md").read_text()
    before = (results / "results.md").read_bytes()
    assert run_sftbench("report").returncode == 0
    assert (results / "results.md").read_bytes() == before


def test_more_demonstrations_than_train_records_stop_the_bench_before_any_row(isolated_outputs, tmp_path):
    data, experiment = notes_experiment(tmp_path, "epochs: 1")
    experiment.write_text(
        f"name: t\ntasks: [{{task: 'csv:{data}', text_column: text}}]\nfewshot: [0, 400]\n"
        "runs:\n  - {model: smollm2-135m-instruct, method: lora}\n"
    )
    result = run_sftbench("bench", "--experiment", str(experiment))
    assert result.returncode == 2, result.stderr[-2000:]
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: fewshot: 400 demonstrations asked for, but the train split has only")
    )
    assert not list((Path(os.environ["SFTBENCH_RESULTS"])).glob("*/rows/*.json"))  # nothing written


def test_fine_tuned_rows_share_the_base_models_trunk_pass(isolated_outputs, tmp_path):
    """A LoRA run on the top 4 of 30 layers: its score row replays the base row's pass below them and its generate
    row's answers come from that pass; scoring every model whole (--no-shared-trunk) gives the same scores (1e-4),
    predictions and answers."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "name: t\ntasks: [mushroom]\nbench_limit: 12\noverrides: {eval_steps: null}\nruns:\n"
        "  - {model: smollm2-135m-instruct, method: lora, overrides: {train_limit: 48, eval_limit: 8, lora_layers: 4,"
        " lr: 2.0e-3, epochs: 1, batch_size: 8}}\n"
    )
    trained = run_sftbench("train-all", "--experiment", str(experiment))
    assert trained.returncode == 0, trained.stderr[-3000:]
    results = Path(os.environ["SFTBENCH_RESULTS"])

    def bench(*extra) -> dict[str, dict]:
        done = run_sftbench("bench", "--experiment", str(experiment), "--no-baselines", "--force", *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        folder = results / "mushroom"
        rows = {p.stem: json.loads(p.read_text()) for p in (folder / "rows").glob("*.json")}
        for name, row in rows.items():
            lines = (folder / "predictions" / f"{name}.jsonl").read_text().splitlines()
            row["lines"] = [json.loads(line) for line in lines]
        return rows

    shared, whole = bench(), bench("--no-shared-trunk")
    tuned = "smollm2-135m-instruct-lora"
    assert shared[f"{tuned}.score"]["shared_trunk_layers"] == 26
    assert "shared_trunk_layers" not in whole[f"{tuned}.score"]
    assert shared[f"{tuned}.generate"]["answers_from_scores"] is not None
    assert set(shared) == set(whole) and len(shared) == 4
    for name in shared:
        assert shared[name]["predicted"] == whole[name]["predicted"], name
        for a, b in zip(shared[name]["lines"], whole[name]["lines"], strict=True):
            assert a.get("answer") == b.get("answer"), name
            for label, score in a.get("scores", {}).items():
                assert abs(score - b["scores"][label]) < 1e-4, name
