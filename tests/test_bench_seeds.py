"""A setting trained at several seeds: one table line, its mean and spread, its p-values over every seed."""

import dataclasses
import statistics

import pytest

from bench.row_file import BenchRow
from bench.seeds import table_lines
from bench.statistics import mcnemar_p


def base_row(correct: str) -> BenchRow:
    return BenchRow("t", "m", "base", "", "score", metrics={"accuracy": correct.count("1") / len(correct)},
                    correct=correct)  # fmt: skip


def row(seed, correct: str, other: str | None = None, **extra) -> BenchRow:
    accuracy = correct.count("1") / len(correct)
    return BenchRow(
        task="t",
        model="m",
        state="fine-tuned",
        method="lora",
        mode="score",
        group="m-lora",
        seeds=[1, 2, 3],
        seed=seed,
        metrics={"accuracy": accuracy, "macro_f1": accuracy},
        intervals={"accuracy": [0, 1]},
        correct=correct,
        examples_per_s=10.0,
        peak_memory_mb=100 + seed,
        base_row=base_row(other) if other else None,
        p_vs_base=mcnemar_p(correct, other) if other else None,
        **extra,
    )


def test_seeds_fold_into_one_line_with_mean_sd_range_and_the_largest_p():
    base = "0" * 20 + "1" * 10
    rows = [
        BenchRow("t", "m", "base", "", "score", metrics={"accuracy": 1 / 3}),
        row(1, "1" * 25 + "0" * 5, base),
        row(2, "1" * 22 + "0" * 8, base),
        row(3, "1" * 18 + "0" * 12, base),
    ]
    lines = table_lines(rows)
    assert len(lines) == 2 and lines[0] is rows[0]
    line = lines[1]
    accuracies = [25 / 30, 22 / 30, 18 / 30]
    assert line.metrics["accuracy"] == pytest.approx(statistics.fmean(accuracies))
    assert line.accuracy_sd == pytest.approx(statistics.stdev(accuracies))
    assert (line.accuracy_min, line.accuracy_max) == (18 / 30, 25 / 30)
    assert line.seed_count == 3 and line.peak_memory_mb == 103
    assert line.p_vs_base == max(r.p_vs_base for r in rows[1:])  # holds only if it holds for every seed


def test_a_seed_that_goes_the_other_way_counts_as_p_1():
    base = "1" * 15 + "0" * 15
    rows = [row(1, "1" * 30, base), row(2, "1" * 29 + "0", base), row(3, "1" * 5 + "0" * 25, base)]
    assert all(r.p_vs_base < 0.05 for r in rows)  # each seed alone "differs"
    assert table_lines(rows)[0].p_vs_base == 1.0  # but not in the same direction: no claim


def test_unchosen_settings_and_single_runs_stay_rows_of_their_own():
    rows = [row(1, "1" * 10), row(2, "1" * 9 + "0", not_chosen=True), dataclasses.replace(row(3, "1" * 10), seeds=None)]
    assert table_lines(rows) == rows


def test_a_seeds_line_carries_only_what_belongs_to_the_mean():
    """No seed's confusion matrix, answers, samples or run folder on the line; its accuracy interval and its
    mean difference to the base row are over seeds and records together (bench/statistics.py)."""
    from bench.statistics import correct_matrix, pigeonhole_interval

    base = "0" * 20 + "1" * 10
    rows = []
    for seed, correct in ((1, "1" * 25 + "0" * 5), (2, "1" * 22 + "0" * 8), (3, "1" * 18 + "0" * 12)):
        r = row(seed, correct, base)
        r.metrics.update(confusion=[[1, 2], [3, 4]], per_class={"a": {"f1": 0.5}})
        r.samples, r.run, r.row_id = [{"id": "x"}], f"results/runs/t/m-seed{seed}", f"m-seed{seed}.score"
        r.run_fingerprint = f"print{seed}"
        rows.append(r)
    line = table_lines(rows)[0]
    for key in ("correct", "samples", "run", "run_fingerprint", "row_id", "seed"):
        assert not getattr(line, key), key
    assert set(line.metrics) == {"accuracy", "macro_f1"}  # means only: no confusion, no per-class scores
    assert line.seed_rows == ["m-seed1.score", "m-seed2.score", "m-seed3.score"]
    matrix = correct_matrix([r.correct for r in rows])
    assert line.intervals["accuracy"] == pigeonhole_interval(matrix)
    differences = matrix - correct_matrix([base] * 3)
    assert line.diff_vs_base["difference"] == pytest.approx(differences.mean())
    assert line.diff_vs_base["interval"] == pigeonhole_interval(differences)
    low, high = line.diff_vs_base["interval"]
    assert low < differences.mean() < high


def test_a_row_file_reads_back_typed_and_an_unknown_key_names_the_file(tmp_path):
    """Every committed row file loads as a BenchRow (the type declares each field a row file holds); a key the
    type does not know is an error naming the file and the key, not a field silently dropped."""
    from bench.row_file import load_row
    from sftbench_common.errors import UserError
    from sftbench_common.paths import REPO_ROOT

    committed = sorted((REPO_ROOT / "results").glob("**/rows/*.json"))
    assert committed
    for path in committed:
        row = load_row(path)
        assert row.task and row.metrics and row.examples > 0, path
    path = tmp_path / "m.score.json"
    path.write_text(committed[0].read_text().replace('"model":', '"modle": "x", "model":', 1))
    with pytest.raises(UserError, match=r"m\.score\.json.*modle"):
        load_row(path)
