"""The results table's columns and its three renderings: Markdown, CSV and LaTeX (booktabs).

Metrics with a 95% interval (bench/statistics.py) show it inline in Markdown, `0.981 [0.946, 0.994]`, and
get two more columns in CSV and LaTeX, `<metric>_low` and `<metric>_high`. A paired comparison (a fine-tuned
row against its base model, the best baseline, the best in-context row) shows the accuracy difference in
points with its 95% interval and the McNemar p-value, `-1.2 [-4.9, +2.5]; p=0.532`; CSV has them as
`diff_vs_<row>` (a fraction), `_low`, `_high` and `p_vs_<row>`.
"""

from __future__ import annotations

import csv
import io

from bench.row_file import BenchRow
from bench.rows import format_overrides
from sft.run_groups import settings_text

COLUMNS = {
    "classification": [
        ("task", "Task"),
        ("model", "Model"),
        ("state", "State"),
        ("method", "Method"),
        ("mode", "Mode"),
        ("accuracy", "Accuracy"),
        ("macro_f1", "Macro-F1"),
        ("weighted_f1", "Weighted-F1"),
        ("macro_recall", "Macro-recall"),
        ("invalid_rate", "Invalid"),
        ("diff_vs_base", "vs base"),
        ("diff_vs_baseline", "vs best baseline"),
        ("diff_vs_fewshot", "vs best in-context"),
        ("seed_count", "Seeds"),
        ("examples_per_s", "Ex/s"),
        ("peak_memory_mb", "Peak MB"),
        ("device", "Device"),
    ],
    "domain": [
        ("task", "Task"),
        ("model", "Model"),
        ("state", "State"),
        ("method", "Method"),
        ("perplexity", "Perplexity"),
        ("bleu", "BLEU"),
        ("chrf", "chrF"),
        ("tokens", "Test tokens"),
        ("tokens_per_s", "Tok/s"),
        ("peak_memory_mb", "Peak MB"),
        ("device", "Device"),
    ],
}
# The short table for LaTeX (a page is narrower than a screen); CSV keeps every column. The paper splits a
# classification table in two, the scores and the fine-tuned rows' paired comparisons (PAIRED_LATEX_KEYS).
LATEX_KEYS = {
    "classification": (
        "model",
        "state",
        "method",
        "mode",
        "accuracy",
        "macro_f1",
        "invalid_rate",
        "diff_vs_base",
        "diff_vs_baseline",
        "diff_vs_fewshot",
        "seed_count",
        "device",
    ),
    "domain": ("model", "state", "method", "perplexity", "bleu", "chrf", "tokens", "device"),
}
SCORE_LATEX_KEYS = ("model", "state", "method", "mode", "accuracy", "macro_f1", "invalid_rate", "seed_count", "device")
PAIRED_LATEX_KEYS = ("model", "method", "mode", "diff_vs_base", "diff_vs_baseline", "diff_vs_fewshot")
TEXT_KEYS = ("task", "model", "state", "method", "mode", "device", "seed_count")
# Shown in Markdown and LaTeX only where a task has them (in-context rows, seeds); CSV always has every column.
OPTIONAL_KEYS = ("diff_vs_fewshot", "seed_count")
# CSV only: which seed a row is (a seeded setting's mean line says "mean"), the spread, the in-context
# demonstrations and the records a learning-curve point trained on.
CSV_EXTRA = ("seed", "accuracy_sd", "accuracy_min", "accuracy_max", "shots", "train_size", "whole_train")
SCORES = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "invalid_rate")
INTERVAL_KEYS = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "perplexity")
# each paired difference's column and the p-value that goes with it (bench/seeds.py PAIRED says which row)
P_VALUES = {"diff_vs_base": "p_vs_base", "diff_vs_baseline": "p_vs_baseline", "diff_vs_fewshot": "p_vs_fewshot"}
PAIRED_HEADER = "Δ points [95% CI]; p"


def method_text(row: BenchRow) -> str:
    """'lora', 'lora (lr=0.0003)' (trained with overrides), 'lora (n=256; lr=0.0003, lora_r=16: chosen on val
    among 6)', '- (n=256)' for a baseline trained on a learning curve's subset."""
    notes = []
    if row.overrides:
        notes.append(format_overrides(row.overrides))
    if row.train_size:
        notes.append(f"n={row.train_size}" + (", all" if row.whole_train else ""))
    if row.sweep:
        sweep = row.sweep
        if row.not_chosen:
            run = next(s for s in sweep["settings"] if s["run"] == row.run_name)
            notes.append(f"{settings_text(run['settings'])}: not chosen on val")
        else:
            notes.append(f"{settings_text(sweep['chosen'])}: chosen on val among {len(sweep['settings'])}")
    return (row.method or "-") + (f" ({'; '.join(notes)})" if notes else "")


def state_text(row: BenchRow) -> str:
    return f"{row.state}, {row.shots}-shot" if row.shots else row.state


def device_text(row: BenchRow) -> str:
    return " ".join(part for part in (row.device, row.precision) if part)


def flat(row: BenchRow, columns: list[tuple[str, str]]) -> dict:
    """A row as one table line: each column from the row's metrics, else from the row itself."""
    record = {key: getattr(row, key) for key in CSV_EXTRA}
    if row.seed_count:
        record["seed"] = "mean"
    for key, _ in columns:
        if key == "method":
            record[key] = method_text(row)
        elif key == "state":
            record[key] = state_text(row)
        elif key == "device":
            record[key] = device_text(row)
        elif key in P_VALUES:
            paired = getattr(row, key)
            record[key] = paired["difference"] if paired else None
            record[f"{key}_low"], record[f"{key}_high"] = paired["interval"] if paired else (None, None)
            record[P_VALUES[key]] = getattr(row, P_VALUES[key])
        elif key in row.metrics:
            record[key] = row.metrics[key]
        else:
            record[key] = getattr(row, key)
        if key in INTERVAL_KEYS and key in row.intervals:
            record[f"{key}_low"], record[f"{key}_high"] = row.intervals[key]
    return record


def csv_keys(columns: list[tuple[str, str]]) -> list[str]:
    keys = []
    for key, _ in columns:
        keys += [key] + ([f"{key}_low", f"{key}_high"] if key in INTERVAL_KEYS or key in P_VALUES else [])
        keys += [P_VALUES[key]] if key in P_VALUES else []
    return keys + (list(CSV_EXTRA) if "seed_count" in dict(columns) else [])


def shown_columns(records: list[dict], columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The columns without the optional ones no record of the task fills."""
    return [(k, h) for k, h in columns if k not in OPTIONAL_KEYS or any(r.get(k) is not None for r in records)]


def cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "perplexity":
        return f"{value:.2f}"
    if key in ("bleu", "chrf", "tokens_per_s", "examples_per_s"):
        return f"{value:.1f}"
    if key == "invalid_rate":
        return f"{100 * value:.1f}%"
    if key.startswith("p_vs_"):
        if isinstance(value, str):
            return value
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if key.startswith("diff_vs_"):
        return f"{100 * value:+.1f}"
    if key.split("_low")[0].split("_high")[0] in SCORES:
        return f"{value:.3f}"
    if key.startswith("perplexity_"):
        return f"{value:.2f}"
    return str(value)


def with_interval(record: dict, key: str) -> str:
    """'0.981 [0.946, 0.994]' where the record has the bounds; a seeds' mean line: '0.956 [0.941, 0.970] sd 0.012
    (0.938-0.969)', the mean with its interval over seeds and records, the sample standard deviation and the
    range over the seeds; a paired difference: '+3.1 [-0.5, +6.8]; p=0.092'; else the plain cell."""
    shown = cell(key, record.get(key))
    if record.get(f"{key}_low") is not None:
        shown = f"{shown} [{cell(key, record[f'{key}_low'])}, {cell(key, record[f'{key}_high'])}]"
    if key == "accuracy" and record.get("accuracy_sd") is not None:
        shown += (
            f" sd {cell(key, record['accuracy_sd'])} "
            f"({cell(key, record['accuracy_min'])}-{cell(key, record['accuracy_max'])})"
        )
    if key in P_VALUES and record.get(key) is not None:
        shown += f"; {p_text(record.get(P_VALUES[key]))}"
    return shown


def p_text(p: float | None) -> str:
    """'p=0.092', 'p<0.001' or 'p n/a'."""
    if p is None:
        return "p n/a"
    shown = cell("p_vs_", p)
    return f"p{shown}" if shown.startswith("<") else f"p={shown}"


def csv_text(records: list[dict], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: (
                    f"{record.get(k):.6f}"
                    if isinstance(record.get(k), float)
                    else ""
                    if record.get(k) is None
                    else record[k]
                )
                for k in keys
            }
        )
    return out.getvalue()


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def markdown_rows(records: list[dict], columns: list[tuple[str, str]]) -> str:
    """The task's table (the task column left out: the section names it), intervals inline."""
    shown = [
        (k, h + (" [95% CI]" if k in INTERVAL_KEYS else f": {PAIRED_HEADER}" if k in P_VALUES else ""))
        for k, h in shown_columns(records, columns)
    ]
    shown = [(k, h) for k, h in shown if k != "task"]
    return markdown_table([h for _, h in shown], [[with_interval(r, k) for k, _ in shown] for r in records])


def latex_escape(text: str) -> str:
    for char, escaped in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("<", r"$<$"),
    ):
        text = text.replace(char, escaped)
    return text


def latex_cell(record: dict, key: str) -> str:
    r"""A LaTeX cell; a seeds' mean line shows accuracy as mean $\pm$ sd (its interval in the low and high
    columns); a paired difference as points with its interval and p."""
    if record.get("accuracy_sd") is not None and key == "accuracy":
        return f"{cell(key, record[key])}$\\pm${cell(key, record['accuracy_sd'])}"
    if key in P_VALUES:
        return latex_escape(with_interval(record, key))
    return latex_escape(cell(key, record.get(key)))


def latex_table(records: list[dict], columns: list[tuple[str, str]], kind: str, chosen: tuple | None = None) -> str:
    """booktabs tabular: the short column set (or the `chosen` keys), each interval as low/high columns, a rule
    between tasks."""
    headers = dict(shown_columns(records, columns))
    keys, header = [], []
    for key in (k for k in chosen or LATEX_KEYS[kind] if k in headers):
        keys.append(key)
        header.append(headers[key])
        if key in INTERVAL_KEYS:
            keys += [f"{key}_low", f"{key}_high"]
            header += ["low", "high"]
    text_columns = sum(1 for k in keys if k in TEXT_KEYS)
    lines = [
        r"\begin{tabular}{" + "l" * text_columns + "r" * (len(keys) - text_columns) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    previous_task = None
    for record in records:
        if previous_task is not None and record["task"] != previous_task:
            lines.append(r"\midrule")
        previous_task = record["task"]
        lines.append(" & ".join(latex_cell(record, k) for k in keys) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def per_class_records(rows: list[BenchRow]) -> tuple[list[dict], list[str]]:
    """Classification rows with per-class precision/recall/F1/support columns (results/<task>/metrics.csv)."""
    columns = COLUMNS["classification"]
    labels = rows[0].labels
    keys = csv_keys(columns) + [
        f"{metric}[{label}]" for label in labels for metric in ("precision", "recall", "f1", "support")
    ]
    records = []
    for row in rows:
        record = flat(row, columns)
        for label in labels:
            for metric, value in row.metrics["per_class"][label].items():
                record[f"{metric}[{label}]"] = value
        records.append(record)
    return records, keys
