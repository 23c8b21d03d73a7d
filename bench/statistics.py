"""Uncertainty for every table row and paired tests between rows, from scipy and scikit-learn.

    accuracy                         95% Wilson score interval (scipy.stats.binomtest)
    macro-F1, weighted-F1, macro-recall   95% percentile bootstrap over the test records (scipy.stats.bootstrap,
                                     scikit-learn's definitions, vectorized), seeded, the same resamples for all three
    perplexity (domain text)         95% percentile bootstrap over the test blocks
    fine-tuned vs base / baseline    exact McNemar test on the records exactly one of the two got right
                                     (a two-sided binomial test of the discordant pairs, scipy.stats.binomtest),
                                     and the accuracy difference with Tango's (1998) 95% score interval for
                                     paired proportions: the differences the test rules out are outside it
    the mean over training seeds     95% pigeonhole bootstrap (Owen 2007): seeds and test records resampled
                                     together, independently, for a seeds line's accuracy and its differences

scipy.stats and scikit-learn load inside the functions: 2-3 s to import, and --help must answer at once.
"""

from __future__ import annotations

import math

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 42
BOOTSTRAP_METRICS = ("macro_f1", "weighted_f1", "macro_recall")


def wilson_interval(correct: int, total: int) -> list[float]:
    from scipy.stats import binomtest

    interval = binomtest(correct, total).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return [float(interval.low), float(interval.high)]


def paired_bootstrap(data: tuple, statistic, vectorized: bool):
    """(low, high) of scipy's seeded percentile bootstrap, resampling the test items of `data` together."""
    from scipy.stats import bootstrap

    result = bootstrap(
        data,
        statistic,
        paired=True,
        vectorized=vectorized,
        method="percentile",
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        rng=np.random.default_rng(SEED),
    )
    return result.confidence_interval


def bootstrap_intervals(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of macro-F1, weighted-F1 and macro-recall over the test records.

    Each resample is scored as scikit-learn's precision_recall_fscore_support(labels=..., zero_division=0)
    scores the table's own numbers (an invalid answer counts against its gold label's recall and is no true
    positive), computed for all resamples at once from per-label counts (tests/test_bench_statistics.py
    checks it equals scikit-learn's, resample by resample).
    """
    index = {label: i for i, label in enumerate(labels)}
    gold_ids = np.array([index[g] for g in gold])
    predicted_ids = np.array([index.get(p, len(labels)) for p in predicted])
    label_ids = np.arange(len(labels))

    def scores(g, p, axis=-1):
        return resample_scores(g, p, label_ids, axis)

    low, high = paired_bootstrap((gold_ids, predicted_ids), scores, vectorized=True)
    return {name: [float(lo), float(hi)] for name, lo, hi in zip(BOOTSTRAP_METRICS, low, high, strict=True)}


def resample_scores(gold_ids, predicted_ids, label_ids, axis: int = -1):
    """[macro-F1, weighted-F1, macro-recall] along `axis` (the records), for any leading resample axes."""
    gold_ids, predicted_ids = np.moveaxis(gold_ids, axis, -1), np.moveaxis(predicted_ids, axis, -1)
    is_gold = gold_ids[..., None, :] == label_ids[:, None]  # (..., labels, records)
    is_predicted = predicted_ids[..., None, :] == label_ids[:, None]
    support = is_gold.sum(-1)
    predicted_count = is_predicted.sum(-1)
    true_positives = (is_gold & is_predicted).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, true_positives / support, 0.0)
        f1 = np.where(support + predicted_count > 0, 2 * true_positives / (support + predicted_count), 0.0)
    weighted = (f1 * support).sum(-1) / support.sum(-1)
    return np.stack([f1.mean(-1), weighted, recall.mean(-1)])


def classification_intervals(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, list[float]]:
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return {"accuracy": wilson_interval(correct, len(gold)), **bootstrap_intervals(gold, predicted, labels)}


def mcnemar_p(correct_a: str, correct_b: str) -> float | None:
    """Exact McNemar p-value of two rows' right/wrong strings ('1'/'0' per test record, the same records)."""
    if len(correct_a) != len(correct_b) or not correct_a:
        return None
    only_a = sum(a == "1" and b == "0" for a, b in zip(correct_a, correct_b))
    only_b = sum(a == "0" and b == "1" for a, b in zip(correct_a, correct_b))
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def tango_interval(only_a: int, only_b: int, total: int, confidence: float = CONFIDENCE) -> list[float]:
    """Tango's (1998) asymptotic score interval for a paired difference of proportions, p_a - p_b, from the
    discordant counts (`only_a`: records a got right and b wrong; `only_b`: the other way) of `total` pairs.

    The interval is every difference d whose score statistic T(d) = (only_a - only_b - total*d) /
    sqrt(total * (2*q(d) + d*(1 - d))) lies within +-z, q(d) being the maximum-likelihood estimate of the
    probability of "b only" under p_a - p_b = d (closed form). T decreases in d, so each limit is one root,
    found by Brent's method. Unlike the Wald interval it is neither degenerate when no pair disagrees nor past
    [-1, 1]. Checked against the reference implementation's published output (contingencytables, Fagerland,
    Lydersen & Laake 2017) in tests/test_bench_statistics.py.
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    estimate = (only_a - only_b) / total

    def score(d: float) -> float:
        linear = -only_a - only_b + (2 * total - only_a + only_b) * d
        constant = -only_b * d * (1 - d)
        q = (math.sqrt(max(0.0, linear * linear - 8 * total * constant)) - linear) / (4 * total)
        variance = total * (2 * q + d * (1 - d))
        numerator = only_a - only_b - total * d
        if variance <= 0:  # at d = -1 or 1: T grows without bound towards them
            return math.copysign(math.inf, numerator) if numerator else 0.0
        return numerator / math.sqrt(variance)

    def limit(target: float, inner: float, outer: float) -> float:
        if (score(outer) - target) * (score(inner) - target) > 0:
            return outer  # the statistic never reaches z before the end of [-1, 1]
        return float(brentq(lambda d: score(d) - target, min(inner, outer), max(inner, outer), xtol=1e-12))

    return [limit(z, estimate, -1.0), limit(-z, estimate, 1.0)]


def paired_difference(correct_a: str, correct_b: str) -> dict | None:
    """{"difference": accuracy(a) - accuracy(b), "interval": Tango's 95% interval} of two rows' right/wrong
    strings on the same records (None where they are not comparable)."""
    if len(correct_a) != len(correct_b) or not correct_a:
        return None
    only_a = sum(a == "1" and b == "0" for a, b in zip(correct_a, correct_b))
    only_b = sum(a == "0" and b == "1" for a, b in zip(correct_a, correct_b))
    total = len(correct_a)
    return {"difference": (only_a - only_b) / total, "interval": tango_interval(only_a, only_b, total)}


def correct_matrix(correct: list[str]):
    """Right/wrong strings of several rows (seeds) on the same records as a 0/1 array, seeds x records."""
    return np.array([[c == "1" for c in row] for row in correct], dtype=float)


def pigeonhole_interval(values) -> list[float]:
    """95% percentile interval of the mean of a seeds x records array, by the pigeonhole bootstrap (Owen 2007,
    "The pigeonhole bootstrap", Ann. Appl. Stat.): each resample draws seeds and test records with replacement,
    independently, and takes the mean over the crossed draw, so the interval carries both the variation between
    training seeds and the finite test set (with one seed it is the percentile bootstrap over the records).
    Owen shows it is mildly conservative for such crossed designs; with 3 seeds the seed part is coarse, which
    widens it. Seeded: the same values give the same interval. All resamples at once from the draws' counts:
    the mean of values[seeds][:, records] is seed_counts . values . record_counts / (S n)."""
    values = np.asarray(values, dtype=float)
    seeds, records = values.shape
    rng = np.random.default_rng(SEED)
    record_counts = rng.multinomial(records, np.full(records, 1 / records), size=RESAMPLES)
    seed_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=RESAMPLES)
    means = (seed_counts * (record_counts @ values.T)).sum(1) / (seeds * records)
    low, high = np.percentile(means, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return [float(low), float(high)]


def perplexity_interval(block_nll: list[float], block_tokens: list[int]) -> list[float]:
    """Bootstrap interval of token-weighted perplexity, resampling whole test blocks."""
    nll, tokens = np.asarray(block_nll, dtype=float), np.asarray(block_tokens, dtype=float)
    if len(nll) < 2:
        value = math.exp(nll.sum() / tokens.sum())
        return [value, value]

    def statistic(n, t, axis=-1):
        return np.exp(n.sum(axis) / t.sum(axis))

    low, high = paired_bootstrap((nll, tokens), statistic, vectorized=True)
    return [float(low), float(high)]
