"""Rows over training seeds: one table line per model, method and mode, with the seeds' spread.

A run group trained with `seeds: [42, 43, 44]` (sft/run_groups.py) has one row file per seed. The table shows
one line for them, holding only what belongs to their mean: each metric's mean over the seeds; for accuracy the
sample standard deviation, the minimum and the maximum, and a 95% interval of the mean over seeds and test
records together (bench/statistics.py `pigeonhole_interval`); against each comparison row, the mean accuracy
difference with the same kind of interval. Its p-values are the least favourable seed's: a seed whose
difference goes the other way from the mean's counts as p = 1, and the line's p is the largest over the seeds,
so p < 0.05 means the difference holds, in the same direction, for every seed. What belongs to one seed (its
confusion matrix, per-class scores, right/wrong answers, samples, run folder) stays in that seed's row file and
results.csv line, and is labelled with its seed wherever it is shown.
"""

from __future__ import annotations

import statistics

from bench.row_file import BenchRow
from bench.statistics import correct_matrix, pigeonhole_interval

MEAN_KEYS = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "invalid_rate")
# each paired comparison: the p-value's key, the difference's key, the key of the row compared with
PAIRED = {
    "p_vs_base": ("diff_vs_base", "base_row"),
    "p_vs_baseline": ("diff_vs_baseline", "baseline_row"),
    "p_vs_fewshot": ("diff_vs_fewshot", "fewshot_row"),
}
# what a seeds line shares with its seeds' rows: the setting, not one seed's measurement
SHARED_KEYS = (
    "task",
    "task_kind",
    "model",
    "state",
    "method",
    "mode",
    "kind",
    "order",
    "group",
    "seeds",
    "train_size",
    "whole_train",
    "sweep",
    "shots",
    "overrides",
    "split",
    "split_hash",
    "examples",
    "test_size",
    "labels",
    "device",
    "precision",
)


def seed_key(row: BenchRow) -> tuple | None:
    """Rows with the same key are one setting at several seeds (None: a row of its own)."""
    if not row.of_seeds or row.not_chosen:
        return None
    return (row.group, row.method, row.mode)


def consistent_p(rows: list[BenchRow], key: str, mean_gain: float) -> float | None:
    """The largest p over the seeds, a seed that differs the other way counting as 1."""
    values = []
    for row in rows:
        p, other = getattr(row, key), getattr(row, PAIRED[key][1])
        if p is None or other is None:
            return None
        gain = row.accuracy - other.accuracy
        values.append(p if gain * mean_gain > 0 or (gain == 0 == mean_gain) else 1.0)
    return max(values)


def mean_difference(rows: list[BenchRow], other_key: str) -> dict | None:
    """The mean over seeds and records of (this seed right) - (its comparison row right), with the pigeonhole
    interval; None unless every seed has the comparison row."""
    others = [getattr(row, other_key) for row in rows]
    if any(other is None or not other.correct for other in others) or not all(r.correct for r in rows):
        return None
    values = correct_matrix([r.correct for r in rows]) - correct_matrix([o.correct for o in others])
    return {"difference": float(values.mean()), "interval": pigeonhole_interval(values)}


def combine(rows: list[BenchRow]) -> BenchRow:
    """One table line for the seeds of one setting."""
    first = rows[0]
    accuracies = [r.accuracy for r in rows]
    line = BenchRow(
        **{key: getattr(first, key) for key in SHARED_KEYS},
        metrics={k: statistics.fmean(r.metrics[k] for r in rows) for k in MEAN_KEYS if k in first.metrics},
        intervals={"accuracy": pigeonhole_interval(correct_matrix([r.correct for r in rows]))},
        seed_count=len(rows),
        seed_rows=[r.row_id for r in rows if r.row_id is not None],
        accuracy_sd=statistics.stdev(accuracies),
        accuracy_min=min(accuracies),
        accuracy_max=max(accuracies),
        examples_per_s=statistics.fmean(r.examples_per_s for r in rows),
        peak_memory_mb=max(r.peak_memory_mb for r in rows),
    )
    for key, (diff_key, other) in PAIRED.items():
        compared = [r for r in rows if getattr(r, other)]
        mean_gain = statistics.fmean(r.accuracy - getattr(r, other).accuracy for r in compared) if compared else 0.0
        setattr(line, key, consistent_p(rows, key, mean_gain))
        setattr(line, diff_key, mean_difference(rows, other))
        shared = getattr(first, other)
        setattr(line, other, shared if all(getattr(r, other) is shared for r in rows) else None)
    return line


def table_lines(rows: list[BenchRow]) -> list[BenchRow]:
    """The task's rows with each setting's seeds folded into one line, at the place of its first seed."""
    groups: dict[tuple, list[BenchRow]] = {}
    for row in rows:
        if (key := seed_key(row)) is not None:
            groups.setdefault(key, []).append(row)
    lines, shown = [], set()
    for row in rows:
        key = seed_key(row)
        if key is None:
            lines.append(row)
        elif key not in shown:
            shown.add(key)
            lines.append(combine(groups[key]) if len(groups[key]) > 1 else row)
    return lines
