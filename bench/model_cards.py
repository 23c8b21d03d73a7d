"""Test metrics onto the model cards: each fine-tuned run's rows, with intervals and paired p-values, go to
its run folder (test_results.json) and its README.md cards (sft/model_card.py), when the report is built."""

from __future__ import annotations

from bench.row_file import BenchRow
from bench.seeds import seed_key, table_lines
from sft import run_folders
from sft.export import run_model
from sft.model_card import record_test_results, write_model_card

CARD_METRICS = {"classification": ("accuracy", "macro_f1"), "domain": ("perplexity",)}


def card_results(rows: list[BenchRow], base_rows: list[BenchRow], seed_lines: dict | None = None) -> list[dict]:
    """A run's rows as the card lists them: one entry per mode and metric, with its base model's value and, for a
    run that is one of several seeds of a setting, the seeds' mean accuracy and spread."""
    results = []
    for row in rows:
        line = (seed_lines or {}).get(seed_key(row))
        base = next((b for b in base_rows if b.model == row.model and b.mode == row.mode), None)
        for metric in CARD_METRICS[row.task_kind]:
            value = row.metrics.get(metric)
            if value is None:
                continue
            results.append(
                {
                    "mode": row.mode,
                    "metric": metric,
                    "value": value,
                    "interval": row.intervals.get(metric),
                    "n": row.examples,
                    "base_value": base.metrics.get(metric) if base else None,
                    "p_vs_base": row.p_vs_base if metric == "accuracy" else None,
                    **(
                        {
                            "seeds": {
                                "count": line.seed_count,
                                "seed": row.seed,
                                "mean": line.accuracy,
                                "sd": line.accuracy_sd,
                                "min": line.accuracy_min,
                                "max": line.accuracy_max,
                            }
                        }
                        if line and metric == "accuracy"
                        else {}
                    ),
                }
            )
    return results


def update_model_cards(rows: list[BenchRow]) -> int:
    """Record the test metrics of each fine-tuned run in `rows` (a task's current rows, paired tests done) and
    rewrite its cards where its weights are here; returns how many runs were updated."""
    base_rows = [row for row in rows if row.state == "base" and not row.shots]
    seed_lines = {seed_key(line): line for line in table_lines(rows) if line.seed_count}
    by_run: dict[str, list[BenchRow]] = {}
    for row in rows:
        if row.state == "fine-tuned" and row.run:
            by_run.setdefault(row.run, []).append(row)
    for stored, run_rows in by_run.items():
        run_dir = run_folders.resolve_path(stored)
        record_test_results(run_dir, card_results(run_rows, base_rows, seed_lines))
        if run_folders.has_weights(run_dir):
            write_model_card(run_dir, run_model(run_dir))
    return len(by_run)
