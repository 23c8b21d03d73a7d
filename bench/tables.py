"""The results table's columns and its three renderings: Markdown, CSV and LaTeX (booktabs)."""

from __future__ import annotations

import csv
import io

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
        ("examples_per_s", "Ex/s"),
        ("peak_memory_mb", "Peak MB"),
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
    ],
}
TEXT_KEYS = ("task", "model", "state", "method", "mode")
SCORES = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "invalid_rate")


def flat(row: dict, columns: list[tuple[str, str]]) -> dict:
    """A row file as one table line: each column from the row's metrics, else from the row itself."""
    record = {}
    for key, _ in columns:
        value = row["metrics"][key] if key in row["metrics"] else row[key]
        record[key] = (value or "-") if key == "method" else value
    return record


def cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "perplexity":
        return f"{value:.2f}"
    if key in ("bleu", "chrf", "tokens_per_s", "examples_per_s"):
        return f"{value:.1f}"
    if key == "invalid_rate":
        return f"{100 * value:.1f}%"
    if key in SCORES:
        return f"{value:.3f}"
    return str(value)


def csv_text(records: list[dict], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: (f"{record[k]:.6f}" if isinstance(record[k], float) else "" if record[k] is None else record[k])
                for k in keys
            }
        )
    return out.getvalue()


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def markdown_rows(records: list[dict], columns: list[tuple[str, str]]) -> str:
    """The task's table (the task column left out: the section names it)."""
    shown = [(k, h) for k, h in columns if k != "task"]
    return markdown_table([h for _, h in shown], [[cell(k, r[k]) for k, _ in shown] for r in records])


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
    ):
        text = text.replace(char, escaped)
    return text


def latex_table(records: list[dict], columns: list[tuple[str, str]]) -> str:
    keys = [k for k, _ in columns]
    text_columns = sum(1 for k in keys if k in TEXT_KEYS)
    lines = [
        r"\begin{tabular}{" + "l" * text_columns + "r" * (len(keys) - text_columns) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for _, h in columns) + r" \\",
        r"\midrule",
    ]
    previous_task = None
    for record in records:
        if previous_task is not None and record["task"] != previous_task:
            lines.append(r"\midrule")
        previous_task = record["task"]
        lines.append(" & ".join(latex_escape(cell(k, record[k])) for k in keys) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def per_class_records(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Classification rows with per-class precision/recall/F1/support columns (results/<task>/metrics.csv)."""
    columns = COLUMNS["classification"]
    labels = rows[0]["labels"]
    keys = [k for k, _ in columns] + [
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
