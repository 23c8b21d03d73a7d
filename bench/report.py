"""Rebuild every table and figure from the files `bench.run` wrote, without running any model.

    python -m bench.report          # `make report`

Reads results/<task>/rows/*.json (one per benchmarked model, state and mode) and results/runs/*/ (loss
logs), and writes:
    results/results.md, results/results.csv, results/results.tex   one table, every classification task
    results/domain.csv, results/domain.tex                          domain-text tasks: perplexity, BLEU, chrF
    results/<task>/metrics.csv                                      with per-class precision/recall/F1
    results/<task>/figures/confusion_<model>.png                    base vs fine-tuned, side by side
    results/<task>/figures/loss_curves.png                          every run of the task on one figure
    results/runs/<task>/<run>/test_results.json, README.md cards    each fine-tuned run's test metrics
A fine-tuned row counts only while its run is still the finished run it was measured on; rows of runs
that were retrained or are unfinished are left out (and `make bench` measures them again).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.figures import confusion_figures, loss_curves_figure
from bench.model_cards import update_model_cards
from bench.statistics import mcnemar_p
from bench.tables import (
    COLUMNS,
    csv_keys,
    csv_text,
    flat,
    latex_table,
    markdown_rows,
    markdown_table,
    per_class_records,
)
from common.errors import run_cli
from common.fileio import atomic_write_text
from common.paths import results_dir
from sft import run_folders

INTRO = (
    "# sftbench results\n\n"
    "Rebuilt from `results/<task>/rows/*.json` by `make report` (`python -m bench.report`); the rows come from "
    "`make bench` (`python -m bench.run`). Every row of a task is measured on the same n test records. `score`: "
    "labels ranked by log-likelihood; `generate`: greedy answer, then a parser (Invalid = no single label "
    "named); `head`: classifier argmax. Brackets hold a 95% interval: Wilson for accuracy, a seeded bootstrap over "
    "the test records for the F1 scores and macro-recall (CSV and LaTeX: the `_low`/`_high` columns). `p vs base` "
    "and `p vs best baseline` are exact McNemar tests of a fine-tuned row against its own base model (same mode) "
    "and against the task's most accurate baseline, on the same records: a difference is supported where p < 0.05. "
    "Ex/s is test examples per second (baselines: fit and predict); Peak MB is the process's peak resident memory "
    "on CPU, or peak allocated GPU memory; Device names the device and the precision the row ran in.\n"
)


def load_rows(root: Path) -> dict[str, list[dict]]:
    """Task -> its current rows, in benchmark order."""
    tasks: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/rows/*.json")):
        row = json.loads(path.read_text())
        if row["state"] == "fine-tuned":
            run_dir = run_folders.resolve_path(row["run"])
            if not run_folders.is_finished(run_dir) or run_folders.fingerprint(run_dir) != row["run_fingerprint"]:
                continue
        tasks.setdefault(row["task"], []).append(row)
    for rows in tasks.values():
        rows.sort(key=lambda r: (r["order"], r["row_id"]))
        examples = {r["examples"] for r in rows}
        if len(examples) > 1:  # rows measured on different test subsets must not share a table
            newest = max(examples)
            rows[:] = [r for r in rows if r["examples"] == newest]
    return dict(sorted(tasks.items()))


def one_line(text: str) -> str:
    return " ".join(text.split())


def samples_section(rows: list[dict], kind: str) -> str:
    """A few held-out inputs with the real answer and each model's, side by side."""
    if kind == "classification":
        shown = [r for r in rows if r["mode"] == "generate"]
        title = "Sample answers (`generate` mode, greedy):\n"
    else:
        shown = [r for r in rows if r.get("samples")]
        title = "Sample continuations (greedy; the prompt's last 200 characters shown):\n"
    if not shown:
        return ""
    lines = [title]
    for index, sample in enumerate(shown[0]["samples"]):
        if kind == "classification":
            text = sample["input"] if len(sample["input"]) <= 240 else sample["input"][:240] + " ..."
            lines.append(f"{index + 1}. `{sample['id']}`: {text}  \n   gold: **{sample['gold']}**")
        else:
            lines.append(
                f"{index + 1}. `{sample['id']}`: ...{one_line(sample['prompt'])[-200:]}  \n"
                f'   real: "{one_line(sample["reference"])}"'
            )
        for row in shown:
            if index >= len(row["samples"]):
                continue
            mine = row["samples"][index]
            if kind == "classification":
                answer = mine.get("answer", "").strip().replace("\n", " ") or "(empty)"
                lines.append(f'   - {row["model"]} {row["state"]}: "{answer[:80]}" -> {mine["predicted"]}')
            else:
                lines.append(f'   - {row["model"]} {row["state"]}: "{one_line(mine["continuation"]) or "(empty)"}"')
        lines.append("")
    return "\n".join(lines) + "\n"


def task_heading(task: str, rows: list[dict], kind: str) -> str:
    first = rows[0]
    devices = ", ".join(sorted({" ".join(p for p in (r["device"], r.get("precision")) if p) for r in rows}))
    split = f" Split: {first['split']}." if first.get("split") else ""
    if kind == "classification":
        return (
            f"## {task}\n\nn = {first['examples']} of the {first['test_size']} test records (labels: "
            f"{', '.join(first['labels'])}; device and precision: {devices}).{split}\n"
        )
    return (
        f"## {task} (domain text)\n\n{first['examples']} of {first['test_size']} test blocks of "
        f"{first['block_size']} tokens (held-out documents), {first['prompts']} continuation prompts "
        f"(device and precision: {devices}).{split} Perplexity is token-weighted over the same blocks for a "
        f"model's base and fine-tuned rows (lower is better; models with different tokenizers are not "
        f"comparable), with a 95% bootstrap interval over the blocks; BLEU and chrF compare greedy continuations "
        f"with the real text.\n"
    )


def paired_tests(rows: list[dict]) -> None:
    """Each fine-tuned row's exact McNemar p-value against its own base row (same mode) and against the task's
    best baseline by accuracy; they were measured on the same test records."""
    baselines = [r for r in rows if r["state"] == "baseline" and r.get("correct")]
    best = max(baselines, key=lambda r: r["metrics"]["accuracy"], default=None)
    for row in rows:
        if row["state"] != "fine-tuned" or not row.get("correct"):
            continue
        base = next(
            (
                r
                for r in rows
                if r["state"] == "base" and r["model"] == row["model"] and r["mode"] == row["mode"] and r.get("correct")
            ),
            None,
        )
        row["p_vs_base"] = mcnemar_p(row["correct"], base["correct"]) if base else None
        row["p_vs_baseline"] = mcnemar_p(row["correct"], best["correct"]) if best else None


def task_section(task: str, rows: list[dict], kind: str, root: Path) -> tuple[str, list[dict]]:
    """The task's Markdown section (writing its metrics.csv and figures) and its table records."""
    out, columns = root / task, COLUMNS[kind]
    if kind == "classification":
        paired_tests(rows)
    records = [flat(row, columns) for row in rows]
    md = [task_heading(task, rows, kind), markdown_rows(records, columns)]
    figures = []
    if kind == "classification":
        per_class, keys = per_class_records(rows)
        atomic_write_text(out / "metrics.csv", csv_text(per_class, keys))
        labels = rows[0]["labels"]
        md += [
            "\nPer-class F1:\n",
            markdown_table(
                ["Model", "State", "Mode", *labels],
                [
                    [
                        r["model"],
                        r["state"],
                        r["mode"],
                        *(f"{r['metrics']['per_class'][label]['f1']:.3f}" for label in labels),
                    ]
                    for r in rows
                ],
            ),
        ]
        figures += confusion_figures(task, rows, out / "figures")
    else:
        atomic_write_text(out / "metrics.csv", csv_text(records, csv_keys(columns)))
    loss = loss_curves_figure(task, out / "figures")
    figures += [loss] if loss else []
    md.append("")
    md += [f"![{path.stem}]({path.relative_to(root).as_posix()})" for path in figures]
    md += ["", samples_section(rows, kind)]
    return "\n".join(md), records


def build_report(root: Path | None = None) -> Path:
    root = root or results_dir()
    md, tables = [INTRO], {"classification": [], "domain": []}
    for task, rows in load_rows(root).items():
        kind = rows[0]["task_kind"]
        section, records = task_section(task, rows, kind, root)
        md.append(section)
        tables[kind] += records
        update_model_cards(rows)
    for kind, stem in (("classification", "results"), ("domain", "domain")):
        if tables[kind] or kind == "classification":
            atomic_write_text(root / f"{stem}.csv", csv_text(tables[kind], csv_keys(COLUMNS[kind])))
            atomic_write_text(root / f"{stem}.tex", latex_table(tables[kind], COLUMNS[kind], kind))
    atomic_write_text(root / "results.md", "\n".join(md).rstrip() + "\n")
    return root / "results.md"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    parser.parse_args(argv)
    print(f"report: {build_report()}")
    return 0


if __name__ == "__main__":
    run_cli(main)
