"""The local evaluate module (bench/metrics/classification) against scikit-learn on known answers."""

import evaluate
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, recall_score

from bench.classification_rows import METRICS_MODULE
from bench.generative import INVALID

LABELS = ["negative", "neutral", "positive"]
GOLD = ["negative", "neutral", "positive", "positive", "neutral", "negative", "positive", "neutral"]
PRED = ["negative", "positive", "positive", INVALID, "neutral", "neutral", "positive", "neutral"]


def test_metrics_module_matches_scikit_learn():
    got = evaluate.load(METRICS_MODULE).compute(predictions=PRED, references=GOLD, labels=LABELS)
    assert got["accuracy"] == pytest.approx(accuracy_score(GOLD, PRED)) == pytest.approx(5 / 8)
    assert got["macro_f1"] == pytest.approx(f1_score(GOLD, PRED, labels=LABELS, average="macro", zero_division=0))
    assert got["weighted_f1"] == pytest.approx(f1_score(GOLD, PRED, labels=LABELS, average="weighted", zero_division=0))
    assert got["macro_recall"] == pytest.approx(
        recall_score(GOLD, PRED, labels=LABELS, average="macro", zero_division=0)
    )
    assert got["invalid_rate"] == pytest.approx(1 / 8)
    precision, recall, f1, support = precision_recall_fscore_support(GOLD, PRED, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert got["per_class"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}
        )
    # rows: gold; columns: predicted, then invalid. The invalid answer was gold "positive".
    assert got["confusion"] == [[1, 1, 0, 0], [0, 2, 1, 0], [0, 0, 2, 1]]
