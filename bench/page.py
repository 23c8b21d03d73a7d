"""The results page: one self-contained HTML file per results folder, results/index.html, that opens from disk.

    sftbench report          # writes it beside results.md (and results/study/index.html for the study)

Built from the files under the results folder alone (row files, records.jsonl, the runs' train_log.jsonl, the
figures), no model runs. Everything it shows is inline: the data as JSON in a <script type="application/json">
element (browsers refuse `fetch` on file://), the script and the styles written here, the figures as data URIs;
nothing is loaded from the network. It shows, per task:

* the table (the same lines as results.csv: each seed and their mean), sortable by any column and filtered by
  state, mode, method and seeds; a line opens its detail: the confusion matrix (a cell lists its records),
  per-class scores, loss and label-accuracy curves of its run, the setting chosen on validation, its seeds;
* a record browser: each record's text, gold label and the answers of the models chosen, filtered by gold, by
  answer, by right or wrong and by a text search;
* model vs model: any two rows, the records exactly one of them got right, both ways, with the counts, the exact
  McNemar p and the accuracy difference with Tango's interval, computed here in Python by bench/statistics.py
  (the same functions as the table) for every pair and embedded, never computed again in the page;
* the learning-curve and sweep figures.

Text from a dataset is only ever set as text (textContent), never parsed as HTML, and the embedded JSON escapes
`<`, `>` and `&`, so a record holding `<script>` or `</script>` shows literally and runs nothing. Nothing private
goes in: runs are named by their folder, not by a path (the rule of the model cards).
"""

from __future__ import annotations

import base64
import json
from itertools import combinations
from pathlib import Path

from bench.report import load_rows, paired_tests
from bench.row_file import BenchRow
from bench.seeds import PAIRED, seed_key, table_lines
from bench.statistics import mcnemar_p, paired_difference
from bench.tables import COLUMNS, flat, method_text, state_text
from sft import run_folders
from sftbench_common.fileio import atomic_write_text, read_jsonl

PAGE = "index.html"
ASSETS = Path(__file__).parent / "assets"  # page.html (the frame), page.js (the views), page.css
SHOWN_FIGURES = ("learning_curve", "sweep", "loss_curves")


def run_curves(row: BenchRow) -> dict:
    """The row's run's train and eval loss and val label accuracy per epoch (train_log.jsonl), if it has a run."""
    if not row.run:
        return {}
    log = run_folders.resolve_path(row.run) / "train_log.jsonl"
    lines = read_jsonl(log, tolerant=True) if log.is_file() else []
    return {
        "train": [[r["epoch"], r["loss"]] for r in lines if "loss" in r and "epoch" in r],
        "eval": [[r["epoch"], r["eval_loss"]] for r in lines if "eval_loss" in r and "epoch" in r],
        "accuracy": [[r["epoch"], r["eval_label_accuracy"]] for r in lines if "eval_label_accuracy" in r],
    }


def row_detail(row: BenchRow, labels: list[str]) -> dict:
    """What the page shows of one row (one model, state, mode; one seed)."""
    index = {label: i for i, label in enumerate(labels)}
    return {
        "id": row.row_id,
        "model": row.model,
        "state": state_text(row),
        "method": method_text(row),
        "mode": row.mode,
        "seed": row.seed if row.seeds else None,
        "seeds": row.seeds,
        "train_size": row.train_size,
        "run": row.run_name,
        "sweep": row.sweep,
        "not_chosen": row.not_chosen,
        "baseline_input": row.baseline_input,
        "shared_trunk_layers": row.shared_trunk_layers,
        "accuracy": row.accuracy,
        "per_class": row.metrics.get("per_class"),
        "confusion": row.metrics.get("confusion"),
        # each record's answer as its label's index (-1: an invalid answer)
        "answers": [index.get(p, -1) for p in row.predicted] if row.predicted else None,
        "correct": row.correct,
        "curves": run_curves(row),
    }


def pair_statistics(rows: list[BenchRow]) -> dict:
    """'a\\tb' -> the discordant counts, exact McNemar p and paired difference (a - b) of every two rows measured on
    the same records: the numbers the page shows, from bench/statistics.py."""
    pairs = {}
    for a, b in combinations([r for r in rows if r.correct], 2):
        if len(a.correct) != len(b.correct):
            continue
        only_a = sum(x == "1" and y == "0" for x, y in zip(a.correct, b.correct))
        only_b = sum(x == "0" and y == "1" for x, y in zip(a.correct, b.correct))
        pairs[f"{a.row_id}\t{b.row_id}"] = {
            "only_a": only_a,
            "only_b": only_b,
            "p": mcnemar_p(a.correct, b.correct),
            **paired_difference(a.correct, b.correct),
        }
    return pairs


def table_entries(rows: list[BenchRow]) -> list[dict]:
    """The table's lines as results.csv has them (each seed's row, then their mean), each with the row it opens."""
    columns = COLUMNS["classification"]
    entries = []
    for line in table_lines(rows):
        if line.seed_count:
            seeds = [r for r in rows if seed_key(r) == seed_key(line)]
            entries += [{"row": r.row_id, "of_seeds": True, "cells": flat(r, columns)} for r in seeds]
            entries.append({"row": None, "seed_rows": [r.row_id for r in seeds], "cells": flat(line, columns)})
        else:
            entries.append({"row": line.row_id, "cells": flat(line, columns)})
    return entries


def figure_uris(task_dir: Path) -> dict[str, str]:
    found = {}
    for stem in SHOWN_FIGURES:
        path = task_dir / "figures" / f"{stem}.png"
        if path.is_file():
            found[stem] = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return found


def task_data(root: Path, task: str, rows: list[BenchRow]) -> dict | None:
    """One classification task's part of the page, or None where its records are not in the results folder."""
    records_path = root / task / "records.jsonl"
    if not records_path.is_file():
        return None
    records = read_jsonl(records_path)
    rows = [r for r in rows if r.examples == len(records)]
    if not rows:
        return None
    paired_tests(rows)
    labels = rows[0].labels
    return {
        "name": task,
        "labels": labels,
        "n": len(records),
        "test_size": rows[0].test_size,
        "records": [{"id": r["id"], "text": r["input"], "gold": labels.index(r["output"])} for r in records],
        "rows": [row_detail(r, labels) for r in rows],
        "table": table_entries(rows),
        "paired": {diff: {"p": p, "with": other} for p, (diff, other) in PAIRED.items()},
        "comparisons": {
            r.row_id: {other: getattr(r, other) and getattr(r, other).row_id for _, other in PAIRED.values()}
            for r in rows
        },
        "pairs": pair_statistics(rows),
        "figures": figure_uris(root / task),
    }


def embedded_json(data: dict) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives as itself, so no text can close it."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(root: Path) -> Path | None:
    """<root>/index.html from the files under `root`; None where no task has its records there yet."""
    tasks = [t for task, rows in load_rows(root).items() if rows[0].task_kind == "classification"
             if (t := task_data(root, task, rows)) is not None]  # fmt: skip
    if not tasks:
        return None
    title = f"sftbench results: {root.name}"
    parts = {
        "@STYLE@": (ASSETS / "page.css").read_text(),
        "@SCRIPT@": (ASSETS / "page.js").read_text(),
        "@TITLE@": title,
        "@DATA@": embedded_json({"title": title, "tasks": tasks}),
    }
    html = (ASSETS / "page.html").read_text()
    for marker, text in parts.items():  # the data last: nothing in it is read as a marker
        html = html.replace(marker, text)
    return atomic_write_text(root / PAGE, html)
