"""A setting trained at several seeds: one table line, its mean and spread, its p-values over every seed."""

import statistics

import pytest

from bench.seeds import table_lines
from bench.statistics import mcnemar_p


def row(seed, correct: str, other: str | None = None, **extra):
    accuracy = correct.count("1") / len(correct)
    base = {"metrics": {"accuracy": other.count("1") / len(other)}, "correct": other} if other else None
    return {
        "model": "m",
        "state": "fine-tuned",
        "method": "lora",
        "mode": "score",
        "group": "m-lora",
        "seeds": [1, 2, 3],
        "seed": seed,
        "metrics": {"accuracy": accuracy, "macro_f1": accuracy},
        "intervals": {"accuracy": [0, 1]},
        "correct": correct,
        "examples_per_s": 10.0,
        "peak_memory_mb": 100 + seed,
        "base_row": base,
        "p_vs_base": mcnemar_p(correct, other) if other else None,
        **extra,
    }


def test_seeds_fold_into_one_line_with_mean_sd_range_and_the_largest_p():
    base = "0" * 20 + "1" * 10
    rows = [
        {"state": "base", "model": "m", "mode": "score", "metrics": {"accuracy": 1 / 3}},
        row(1, "1" * 25 + "0" * 5, base),
        row(2, "1" * 22 + "0" * 8, base),
        row(3, "1" * 18 + "0" * 12, base),
    ]
    lines = table_lines(rows)
    assert len(lines) == 2 and lines[0] is rows[0]
    line = lines[1]
    accuracies = [25 / 30, 22 / 30, 18 / 30]
    assert line["metrics"]["accuracy"] == pytest.approx(statistics.fmean(accuracies))
    assert line["accuracy_sd"] == pytest.approx(statistics.stdev(accuracies))
    assert (line["accuracy_min"], line["accuracy_max"]) == (18 / 30, 25 / 30)
    assert line["seed_count"] == 3 and line["peak_memory_mb"] == 103
    assert line["p_vs_base"] == max(r["p_vs_base"] for r in rows[1:])  # holds only if it holds for every seed


def test_a_seed_that_goes_the_other_way_counts_as_p_1():
    base = "1" * 15 + "0" * 15
    rows = [row(1, "1" * 30, base), row(2, "1" * 29 + "0", base), row(3, "1" * 5 + "0" * 25, base)]
    assert all(r["p_vs_base"] < 0.05 for r in rows)  # each seed alone "differs"
    assert table_lines(rows)[0]["p_vs_base"] == 1.0  # but not in the same direction: no claim


def test_unchosen_settings_and_single_runs_stay_rows_of_their_own():
    rows = [row(1, "1" * 10), row(2, "1" * 9 + "0", not_chosen=True), {**row(3, "1" * 10), "seeds": None}]
    assert table_lines(rows) == rows
