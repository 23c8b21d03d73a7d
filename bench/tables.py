"""The results table's columns and its three renderings: Markdown, CSV and LaTeX (booktabs).

Metrics with a 95% interval (bench/statistics.py) show it inline in Markdown, `0.981 [0.946, 0.994]`, and
get two more columns in CSV and LaTeX, `<metric>_low` and `<metric>_high`.
"""

from __future__ import annotations

import csv
import io

from bench.rows import format_overrides

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
        ("p_vs_base", "p vs base"),
        ("p_vs_baseline", "p vs best baseline"),
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
# The short table for LaTeX (a page is narrower than a screen); CSV keeps every column.
LATEX_KEYS = {
    "classification": (
        "model",
        "state",
        "method",
        "mode",
        "accuracy",
        "macro_f1",
        "invalid_rate",
        "p_vs_base",
        "p_vs_baseline",
        "device",
    ),
    "domain": ("model", "state", "method", "perplexity", "bleu", "chrf", "tokens", "device"),
}
TEXT_KEYS = ("task", "model", "state", "method", "mode", "device")
SCORES = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "invalid_rate")
INTERVAL_KEYS = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "perplexity")


def flat(row: dict, columns: list[tuple[str, str]]) -> dict:
    """A row file as one table line: each column from the row's metrics, else from the row itself."""
    record = {}
    for key, _ in columns:
        if key == "method":
            extra = f" ({format_overrides(row['overrides'])})" if row.get("overrides") else ""
            record[key] = (row["method"] or "-") + extra
        elif key == "device":
            record[key] = " ".join(part for part in (row["device"], row.get("precision")) if part)
        elif key in row["metrics"]:
            record[key] = row["metrics"][key]
        else:
            record[key] = row.get(key)
        if key in INTERVAL_KEYS and key in row.get("intervals", {}):
            record[f"{key}_low"], record[f"{key}_high"] = row["intervals"][key]
    return record


def csv_keys(columns: list[tuple[str, str]]) -> list[str]:
    keys = []
    for key, _ in columns:
        keys += [key] + ([f"{key}_low", f"{key}_high"] if key in INTERVAL_KEYS else [])
    return keys


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
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if key.split("_low")[0].split("_high")[0] in SCORES:
        return f"{value:.3f}"
    if key.startswith("perplexity_"):
        return f"{value:.2f}"
    return str(value)


def with_interval(record: dict, key: str) -> str:
    """'0.981 [0.946, 0.994]' where the record has the bounds, else the plain cell."""
    shown = cell(key, record.get(key))
    if record.get(f"{key}_low") is None:
        return shown
    return f"{shown} [{cell(key, record[f'{key}_low'])}, {cell(key, record[f'{key}_high'])}]"


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
    shown = [(k, h + (" [95% CI]" if k in INTERVAL_KEYS else "")) for k, h in columns if k != "task"]
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


def latex_table(records: list[dict], columns: list[tuple[str, str]], kind: str) -> str:
    """booktabs tabular: the short column set, each interval as low/high columns, a rule between tasks."""
    headers = dict(columns)
    keys, header = [], []
    for key in LATEX_KEYS[kind]:
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
        lines.append(" & ".join(latex_escape(cell(k, record.get(k))) for k in keys) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def per_class_records(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Classification rows with per-class precision/recall/F1/support columns (results/<task>/metrics.csv)."""
    columns = COLUMNS["classification"]
    labels = rows[0]["labels"]
    keys = csv_keys(columns) + [
        f"{metric}[{label}]" for label in labels for metric in ("precision", "recall", "f1", "support")
    ]
    records = []
    for row in rows:
        record = flat(row, columns)
        for label in labels:
            for metric, value in row["metrics"]["per_class"][label].items():
                record[f"{metric}[{label}]"] = value
        records.append(record)
    return records, keys
