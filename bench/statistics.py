"""Uncertainty for every table row and paired tests between rows, from scipy and scikit-learn.

    accuracy                         95% Wilson score interval (scipy.stats.binomtest)
    macro-F1, weighted-F1, macro-recall   95% percentile bootstrap over the test records (scipy.stats.bootstrap,
                                     scikit-learn's definitions, vectorized), seeded, the same resamples for all three
    perplexity (domain text)         95% percentile bootstrap over the test blocks
    fine-tuned vs base / baseline    exact McNemar test on the records exactly one of the two got right
                                     (a two-sided binomial test of the discordant pairs, scipy.stats.binomtest)

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
