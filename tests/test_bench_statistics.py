"""Intervals and paired tests (bench/statistics.py) against statsmodels and scikit-learn on known cases."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support, recall_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from bench.statistics import (
    bootstrap_intervals,
    classification_intervals,
    mcnemar_p,
    perplexity_interval,
    resample_scores,
)


@pytest.mark.parametrize("correct,total", [(157, 160), (79, 160), (160, 160), (0, 12), (813, 813), (799, 813)])
def test_wilson_interval_matches_statsmodels(correct, total):
    gold = ["a"] * total
    predicted = ["a"] * correct + ["b"] * (total - correct)
    low, high = classification_intervals(gold, predicted, ["a", "b"])["accuracy"]
    expected = proportion_confint(correct, total, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx(expected, abs=1e-9)


def test_the_issue_s_example_interval():
    gold, predicted = ["a"] * 160, ["a"] * 157 + ["b"] * 3
    low, high = classification_intervals(gold, predicted, ["a", "b"])["accuracy"]
    assert round(low, 3) == 0.946 and round(high, 3) == 0.994


@pytest.mark.parametrize("only_a,only_b,both", [(10, 2, 100), (0, 5, 40), (3, 3, 10), (25, 11, 120), (0, 0, 8)])
def test_exact_mcnemar_matches_statsmodels(only_a, only_b, both):
    a = "1" * only_a + "0" * only_b + "1" * both + "0" * 7
    b = "0" * only_a + "1" * only_b + "1" * both + "0" * 7
    table = [[both, only_a], [only_b, 7]]
    assert mcnemar_p(a, b) == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-12)
    assert mcnemar_p(a, b) == mcnemar_p(b, a)


def test_bootstrap_intervals_hold_the_point_estimate_and_are_seeded():
    rng = np.random.default_rng(0)
    labels = ["negative", "neutral", "positive"]
    gold = list(rng.choice(labels, 300))
    predicted = [g if rng.random() < 0.7 else rng.choice(labels + ["<invalid>"]) for g in gold]
    intervals = bootstrap_intervals(gold, predicted, labels)
    point = {
        "macro_f1": f1_score(gold, predicted, labels=labels, average="macro", zero_division=0),
        "weighted_f1": f1_score(gold, predicted, labels=labels, average="weighted", zero_division=0),
        "macro_recall": recall_score(gold, predicted, labels=labels, average="macro", zero_division=0),
    }
    for name, value in point.items():
        low, high = intervals[name]
        assert low < value < high and high - low < 0.2, (name, low, value, high)
    assert bootstrap_intervals(gold, predicted, labels) == intervals  # seeded: the same numbers every time
    perfect = bootstrap_intervals(gold, gold, labels)
    assert all(bounds == [1.0, 1.0] for bounds in perfect.values())


def test_perplexity_interval_resamples_blocks():
    block_nll = [60.0, 70.0, 65.0, 90.0, 55.0, 62.0]
    tokens = [31] * 6
    low, high = perplexity_interval(block_nll, tokens)
    point = float(np.exp(sum(block_nll) / sum(tokens)))
    assert low < point < high
    assert np.exp(min(block_nll) / 31) <= low and high <= np.exp(max(block_nll) / 31)


def test_vectorized_resample_scores_equal_scikit_learn_resample_by_resample():
    """The bootstrap scores every resample at once; each must equal scikit-learn's scores of that resample,
    invalid answers (an index past the labels) and a label missing from a resample included."""
    rng = np.random.default_rng(0)
    labels = np.arange(3)
    gold = rng.integers(0, 3, size=(50, 40))
    gold[0] = np.where(gold[0] == 2, 1, gold[0])  # label 2 has no support in the first resample
    predicted = np.where(rng.random((50, 40)) < 0.7, gold, rng.integers(0, 4, size=(50, 40)))  # 3 = invalid
    ours = resample_scores(gold, predicted, labels)
    for i in range(len(gold)):
        _, recall, f1, support = precision_recall_fscore_support(gold[i], predicted[i], labels=labels, zero_division=0)
        expected = [f1.mean(), (f1 * support).sum() / support.sum(), recall.mean()]
        assert ours[:, i] == pytest.approx(expected, abs=1e-12)
