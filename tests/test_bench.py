"""The benchmark: metrics against scikit-learn, score/generate modes on a real model, the report from files."""
import json
import os
from pathlib import Path

import pytest
from conftest import run_module
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, recall_score

from bench.generative import INVALID, parse_label
from bench.run import METRICS_MODULE

LABELS = ["negative", "neutral", "positive"]
GOLD = ["negative", "neutral", "positive", "positive", "neutral", "negative", "positive", "neutral"]
PRED = ["negative", "positive", "positive", INVALID, "neutral", "neutral", "positive", "neutral"]


def test_metrics_module_matches_scikit_learn():
    import evaluate

    got = evaluate.load(METRICS_MODULE).compute(predictions=PRED, references=GOLD, labels=LABELS)
    assert got["accuracy"] == pytest.approx(accuracy_score(GOLD, PRED)) == pytest.approx(5 / 8)
    assert got["macro_f1"] == pytest.approx(f1_score(GOLD, PRED, labels=LABELS, average="macro", zero_division=0))
    assert got["weighted_f1"] == pytest.approx(f1_score(GOLD, PRED, labels=LABELS, average="weighted", zero_division=0))
    assert got["macro_recall"] == pytest.approx(recall_score(GOLD, PRED, labels=LABELS, average="macro", zero_division=0))
    assert got["invalid_rate"] == pytest.approx(1 / 8)
    precision, recall, f1, support = precision_recall_fscore_support(GOLD, PRED, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert got["per_class"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]})
    # rows: gold; columns: predicted, then invalid. The invalid answer was gold "positive".
    assert got["confusion"] == [[1, 1, 0, 0], [0, 2, 1, 0], [0, 0, 2, 1]]


@pytest.mark.parametrize("answer,expected", [
    ("Edible", "edible"), (" poisonous.", "poisonous"), ("The mushroom is poisonous", "poisonous"),
    ("edible or poisonous?", "edible"), ("It could be edible or it could be poisonous", INVALID),
    ("I cannot tell", INVALID), ("", INVALID), ("inedible", INVALID),
])
def test_parse_label(answer, expected):
    assert parse_label(answer, ["edible", "poisonous"]) == expected


@pytest.fixture(scope="module")
def smollm2():
    from bench.generative import load_for_inference

    return load_for_inference("smollm2-135m-instruct")


def mushroom_records(n):
    from prompts.build import build_task, load_split
    from prompts.tasks import get_task

    build_task(get_task("mushroom"))
    return load_split("mushroom", "test")[:n]


def direct_scores(model, tokenizer, record, labels):
    """Log-probability of each label completion by one plain forward pass over prompt + completion."""
    import torch

    from bench.generative import completion_texts, prompt_ids

    prompt = prompt_ids(tokenizer, [record])[0]
    scores = {}
    for label, text in completion_texts(tokenizer, labels).items():
        completion = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + completion])
        with torch.inference_mode():
            log_probs = model(input_ids=ids).logits[0].float().log_softmax(-1)
        scores[label] = float(sum(log_probs[len(prompt) - 1 + i, token] for i, token in enumerate(completion)))
    return scores


def test_score_mode_shares_the_prompt_cache_without_changing_the_scores(smollm2):
    from bench.generative import score_labels

    model, tokenizer = smollm2
    labels = ["edible", "poisonous"]
    records = mushroom_records(6)
    # Prompts of different lengths in one batch: left padding and position ids must not change a score.
    records[1] = {**records[1], "input": records[1]["input"][:60]}
    scores = score_labels(model, tokenizer, records, labels, batch_size=4, progress=False)
    assert len(scores) == len(records)
    for record, got in zip(records, scores):
        assert set(got) == set(labels)
        expected = direct_scores(model, tokenizer, record, labels)
        for label in labels:
            assert got[label] == pytest.approx(expected[label], abs=2e-3)


def test_shared_prefix_leaves_every_prompt_its_last_token():
    from bench.generative import shared_prefix_length

    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[7, 2], [1, 2]]) == 0
    assert shared_prefix_length([[5]]) == 0


def test_score_mode_on_identical_prompts_and_on_one_record(smollm2):
    """The shared prefix is then all of a prompt but its last token; the scores must not notice."""
    from bench.generative import score_labels

    model, tokenizer = smollm2
    labels = ["edible", "poisonous"]
    record = mushroom_records(1)[0]
    expected = direct_scores(model, tokenizer, record, labels)
    for records in ([record, record], [record]):
        for got in score_labels(model, tokenizer, records, labels, batch_size=4, progress=False):
            for label in labels:
                assert got[label] == pytest.approx(expected[label], abs=2e-3)


def test_generate_mode_batched_equals_one_by_one(smollm2):
    from bench.generative import generate_answers

    model, tokenizer = smollm2
    records = mushroom_records(3)
    records[0] = {**records[0], "input": records[0]["input"][:50]}
    batched = generate_answers(model, tokenizer, records, ["edible", "poisonous"], batch_size=3, progress=False)
    single = [generate_answers(model, tokenizer, [r], ["edible", "poisonous"], batch_size=1, progress=False)[0]
              for r in records]
    assert batched == single
    assert all(isinstance(a, str) and a.strip() for a in batched)


def test_bench_run_and_report_rebuild_byte_for_byte(isolated_outputs, tmp_path):
    """`bench.run` on an experiment whose run is not trained: base rows and baselines, then the report."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: t\ntasks: [mushroom]\nbench_limit: 12\n"
                          "runs:\n  - {model: smollm2-135m-instruct, method: lora}\n")
    result = run_module("bench.run", "--experiment", str(experiment), "--batch-size", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not benchmarked" in result.stdout  # the untrained run is named, not silently counted
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = {p.stem: json.loads(p.read_text()) for p in (results / "mushroom" / "rows").glob("*.json")}
    assert set(rows) == {"smollm2-135m-instruct.base.score", "smollm2-135m-instruct.base.generate",
                         "baseline.one-hot-decision-tree", "baseline.one-hot-logistic-regression"}
    score = rows["smollm2-135m-instruct.base.score"]
    predictions = [json.loads(line) for line in
                   (results / "mushroom" / "predictions" / "smollm2-135m-instruct.base.score.jsonl").read_text().splitlines()]
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
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: t\ntasks: [mushroom]\nbench_limit: 8\n"
                          "runs:\n  - {model: smollm2-135m-instruct, method: lora}\n")
    results = Path(os.environ["SFTBENCH_RESULTS"])
    rows = results / "mushroom" / "rows"
    process = subprocess.Popen([sys.executable, "-m", "bench.run", "--experiment", str(experiment)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    assert (results / "results.md").read_text().count("| smollm2-135m-instruct | base | - |") == 2  # main table: score + generate, once each
