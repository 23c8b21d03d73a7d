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
    paired_difference,
    perplexity_interval,
    pigeonhole_interval,
    resample_scores,
    tango_interval,
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


def test_tango_interval_matches_the_reference_implementation():
    """Cavo et al. (2012) as the R package contingencytables (Fagerland, Lydersen & Laake, "Statistical Analysis
    of Contingency Tables", chapter 8) prints it: n = [[59, 6], [16, 80]], estimate -0.0621, 95% CI -0.1240 to
    -0.0054 (its test suite's expected output)."""
    low, high = tango_interval(6, 16, 161)
    assert (round(low, 4), round(high, 4)) == (-0.1240, -0.0054)
    assert tango_interval(16, 6, 161) == pytest.approx([-high, -low], abs=1e-9)  # a - b is -(b - a)


@pytest.mark.parametrize("only_a,only_b,total", [(6, 16, 161), (0, 0, 100), (12, 3, 813), (40, 20, 160), (5, 0, 5)])
def test_tango_interval_is_where_the_score_test_does_not_reject(only_a, only_b, total):
    """Each limit is where Tango's score statistic equals -+1.96 (or the end of [-1, 1]), written out here from
    the paper's formula independently of the code's."""
    from scipy.stats import norm

    def statistic(d):
        a = 2 * total
        b = -only_a - only_b + (2 * total - only_a + only_b) * d
        c = -only_b * d * (1 - d)
        q = (np.sqrt(b * b - 4 * a * c) - b) / (2 * a)
        return (only_a - only_b - total * d) / np.sqrt(total * (2 * q + d * (1 - d)))

    low, high = tango_interval(only_a, only_b, total)
    z = norm.ppf(0.975)
    estimate = (only_a - only_b) / total
    assert low <= estimate <= high
    for limit, sign in ((low, 1), (high, -1)):
        if abs(limit) < 1:
            assert statistic(limit) == pytest.approx(sign * z, abs=1e-6)
            assert abs(statistic(limit - sign * 1e-4)) > z  # just outside: rejected


def test_paired_difference_counts_the_discordant_records():
    a, b = "1" * 50 + "10" * 10 + "0" * 5, "1" * 50 + "01" * 10 + "1" * 5  # a: 10 only-a, b: 15 only-b
    found = paired_difference(a, b)
    assert found["difference"] == pytest.approx((10 - 15) / len(a))
    assert found["interval"] == tango_interval(10, 15, len(a))
    assert paired_difference("101", "10") is None


def pigeonhole_by_loops(values):
    """The pigeonhole bootstrap written plainly: the same draws, each resample's crossed mean by indexing."""
    values = np.asarray(values, dtype=float)
    seeds, records = values.shape
    rng = np.random.default_rng(42)
    record_counts = rng.multinomial(records, np.full(records, 1 / records), size=1000)
    seed_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=1000)
    means = []
    for seed_count, record_count in zip(seed_counts, record_counts):
        chosen_seeds = np.repeat(np.arange(seeds), seed_count)
        chosen_records = np.repeat(np.arange(records), record_count)
        means.append(values[chosen_seeds][:, chosen_records].mean())
    return list(np.percentile(means, [2.5, 97.5]))


def test_pigeonhole_interval_equals_the_plain_resampling():
    rng = np.random.default_rng(3)
    values = (rng.random((3, 120)) < [[0.7], [0.8], [0.75]]).astype(float) - (rng.random(120) < 0.6)
    assert pigeonhole_interval(values) == pytest.approx(pigeonhole_by_loops(values), abs=1e-12)
    one = (rng.random((1, 200)) < 0.8).astype(float)
    low, high = pigeonhole_interval(one)
    assert low < one.mean() < high


def test_pigeonhole_interval_covers_the_mean_of_seeds_and_records():
    """Coverage on simulated crossed data (a seed effect, a record effect, noise): the interval holds the true
    mean accuracy at about its level or above (Owen: conservative), and is wider than one seed's record-only
    bootstrap would claim when seeds differ."""
    rng = np.random.default_rng(7)
    covered, trials = 0, 200
    for _ in range(trials):
        seed_effect = rng.normal(0, 0.03, size=(3, 1))
        record_p = np.clip(0.75 + rng.normal(0, 0.15, size=(1, 300)), 0, 1)
        values = (rng.random((3, 300)) < np.clip(record_p + seed_effect, 0, 1)).astype(float)
        low, high = pigeonhole_interval(values)
        covered += low <= 0.75 <= high
    assert 0.88 <= covered / trials <= 1.0
