"""Rebuild every table and figure from the files `bench.run` wrote, without running any model.

    sftbench report          # `make report`

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

import csv
import json
from pathlib import Path

from bench.figures import confusion_figures, learning_curve_figure, loss_curves_figure, sweep_figure
from bench.model_cards import update_model_cards
from bench.row_file import BenchRow, load_row
from bench.seeds import PAIRED, seed_key, table_lines
from bench.statistics import mcnemar_p, paired_difference
from bench.tables import (
    COLUMNS,
    csv_keys,
    csv_text,
    device_text,
    flat,
    latex_table,
    markdown_rows,
    markdown_table,
    method_text,
    p_text,
    per_class_records,
    state_text,
)
from prompts import near_duplicates
from sft import run_folders
from sftbench_common.errors import moved_to
from sftbench_common.fileio import atomic_write_text, read_jsonl
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)

INTRO = (
    "# sftbench results\n\n"
    "Rebuilt from `results/<task>/rows/*.json` by `make report` (`sftbench report`); the rows come from "
    "`make bench` (`sftbench bench`). Every row of a task is measured on the same n test records (the whole test "
    'split unless a heading says "first n of N"). `score`: labels ranked by log-likelihood; `generate`: greedy '
    "answer, then a parser (Invalid = no single label named); `head`: classifier argmax. Brackets hold a 95% "
    "interval: Wilson for accuracy, a seeded bootstrap over the test records for the F1 scores and macro-recall "
    "(CSV and LaTeX: the `_low`/`_high` columns). The `vs` columns compare a fine-tuned row, on the same "
    "records, with its own base model (same mode), with the task's most accurate baseline and with its model's "
    "most accurate in-context row (same mode): the accuracy difference in points with Tango's 95% score interval "
    "for paired proportions, and the exact McNemar p-value. A difference is supported where p < 0.05; the "
    "interval says which differences the test rules out either way (one that holds 0 does not show the rows "
    "equal, only that the difference lies within it). `base, 4-shot` rows prompt the base model with 4 "
    "demonstrations from the train split (the same for every model and test record). A method's `n=` is the "
    "train records of a learning-curve point (its baselines train on the same records); `chosen on val among N` "
    "names the setting a sweep chose on the validation records, the only one measured on test. A line with "
    "Seeds > 1 is the mean over training seeds: accuracy as the mean with a 95% interval over seeds and test "
    "records together (pigeonhole bootstrap), the standard deviation and the range over the seeds; its "
    "differences are mean differences with the same kind of interval, and its p-values the largest over the "
    "seeds, a seed that differs the other way counting as 1, so p < 0.05 there means the difference holds for "
    "every seed (each seed's row, with its confusion matrix and per-class scores, is in results.csv and "
    "metrics.csv). Ex/s is test examples per second (baselines: fit and predict; a generate row measured with its "
    "model's score row: only its work beyond that row's pass over the prompts, which ranks every label's tokens, "
    "so answers that follow a label's tokens to the end cost almost nothing); Peak MB is the process's peak "
    "resident memory on CPU, or peak allocated GPU memory; Device names the device and the precision the row ran "
    "in.\n"
)


def load_rows(root: Path) -> dict[str, list[BenchRow]]:
    """Task -> its current rows, in benchmark order."""
    tasks: dict[str, list[BenchRow]] = {}
    for path in sorted(root.glob("*/rows/*.json")):
        row = load_row(path)
        if row.state == "fine-tuned":
            run_dir = run_folders.resolve_path(row.run)
            if not run_folders.is_finished(run_dir) or run_folders.fingerprint(run_dir) != row.run_fingerprint:
                continue
        tasks.setdefault(row.task, []).append(row)
    for rows in tasks.values():
        rows.sort(key=lambda r: (r.order, r.row_id))
        examples = {r.examples for r in rows}
        if len(examples) > 1:  # rows measured on different test subsets must not share a table
            newest = max(examples)
            rows[:] = [r for r in rows if r.examples == newest]
    return dict(sorted(tasks.items()))


def one_line(text: str) -> str:
    return " ".join(text.split())


def samples_section(rows: list[BenchRow], kind: str) -> str:
    """A few held-out inputs with the real answer and each model's, side by side."""
    if kind == "classification":
        shown = [r for r in rows if r.mode == "generate"]
        title = "Sample answers (`generate` mode, greedy):\n"
    else:
        shown = [r for r in rows if r.samples]
        title = "Sample continuations (greedy; the prompt's last 200 characters shown):\n"
    if not shown:
        return ""
    lines = [title]
    for index, sample in enumerate(shown[0].samples):
        if kind == "classification":
            text = sample["input"] if len(sample["input"]) <= 240 else sample["input"][:240] + " ..."
            lines.append(f"{index + 1}. `{sample['id']}`: {text}  \n   gold: **{sample['gold']}**")
        else:
            lines.append(
                f"{index + 1}. `{sample['id']}`: ...{one_line(sample['prompt'])[-200:]}  \n"
                f'   real: "{one_line(sample["reference"])}"'
            )
        for row in shown:
            if index >= len(row.samples):
                continue
            mine = row.samples[index]
            if kind == "classification":
                answer = mine.get("answer", "").strip().replace("\n", " ") or "(empty)"
                lines.append(f'   - {row.model} {row.state}: "{answer[:80]}" -> {mine["predicted"]}')
            else:
                lines.append(f'   - {row.model} {row.state}: "{one_line(mine["continuation"]) or "(empty)"}"')
        lines.append("")
    return "\n".join(lines) + "\n"


def split_note(task_dir: Path, split_hash: str | None) -> str:
    """' 30 near-duplicate groups (180 texts) kept on one side; ...' from the split.json bench wrote beside the
    rows, when it describes the rows' split."""
    path = task_dir / "split.json"
    described = json.loads(path.read_text()) if path.is_file() else {}
    if described.get("split_hash") != split_hash or "near_duplicates" not in described:
        return ""
    return f" {near_duplicates.note(described['near_duplicates'])}."


def records_text(scored: int, total: int, unit: str) -> str:
    """'n = 813, the whole test split (813 test records)' or 'n = 160: the first 160 of the 813 test records'
    (a bench with --limit)."""
    if scored >= total:
        return f"n = {scored}, the whole test split ({total} {unit})"
    return f"n = {scored}: the first {scored} of the {total} {unit} (bench --limit)"


def baselines_note(rows: list[BenchRow]) -> str:
    """'Baselines saw: decision tree: 4 numeric columns as numbers (...), 2 categorical columns one-hot; ...'"""
    seen = {r.model: r.baseline_input for r in rows if r.state == "baseline" and r.baseline_input}
    if not seen:
        return ""
    return "\nWhat each baseline saw: " + "; ".join(f"{name}: {saw}" for name, saw in seen.items()) + ".\n"


def task_heading(task: str, rows: list[BenchRow], kind: str, task_dir: Path) -> str:
    first = rows[0]
    devices = ", ".join(sorted({device_text(r) for r in rows}))
    split = f" Split: {first.split}." if first.split else ""
    if kind == "classification":
        split += split_note(task_dir, first.split_hash)
        return (
            f"## {task}\n\n{records_text(first.examples, first.test_size, 'test records')} (labels: "
            f"{', '.join(first.labels)}; device and precision: {devices}).{split}\n"
        )
    return (
        f"## {task} (domain text)\n\n{records_text(first.examples, first.test_size, 'test blocks')} of "
        f"{first.block_size} tokens (held-out documents), {first.prompts} continuation prompts "
        f"(device and precision: {devices}).{split} Perplexity is token-weighted over the same blocks for a "
        f"model's base and fine-tuned rows (lower is better; models with different tokenizers are not "
        f"comparable), with a 95% bootstrap interval over the blocks; BLEU and chrF compare greedy continuations "
        f"with the real text.\n"
    )


def baseline_size(row: BenchRow) -> int | None:
    """The train size of the baselines a row is compared with: its learning-curve point's, the whole split's
    (no size) for a run on the whole split."""
    return None if row.whole_train else row.train_size


def paired_tests(rows: list[BenchRow]) -> None:
    """Each fine-tuned row's exact McNemar p-value and accuracy difference (with Tango's 95% interval) against
    its own base row (zero-shot, same mode), against the task's best baseline by accuracy (trained on as many
    records as the row's learning-curve point, else on the whole train split) and against its model's best
    in-context row (same mode); all were measured on the same test records. The row compared with is kept beside
    each p (bench/seeds.py reads it)."""

    def most_accurate(candidates):
        return max((r for r in candidates if r.correct), key=lambda r: r.accuracy, default=None)

    for row in rows:
        if row.state != "fine-tuned" or not row.correct:
            continue
        same_model = [r for r in rows if r.state == "base" and r.model == row.model and r.mode == row.mode]
        compared = {
            "base_row": next((r for r in same_model if not r.shots and r.correct), None),
            "baseline_row": most_accurate(
                r for r in rows if r.state == "baseline" and r.train_size == baseline_size(row)
            ),
            "fewshot_row": most_accurate(r for r in same_model if r.shots),
        }
        for p_key, (diff_key, other_key) in PAIRED.items():
            other = compared[other_key]
            setattr(row, other_key, other)
            setattr(row, p_key, mcnemar_p(row.correct, other.correct) if other else None)
            setattr(row, diff_key, paired_difference(row.correct, other.correct) if other else None)


def table_records(rows: list[BenchRow], lines: list[BenchRow], columns) -> tuple[list[dict], list[dict]]:
    """(the table's lines, the CSV's lines) from the rows and their table lines (bench/seeds.py table_lines): a
    seeded setting is one line of the table, its mean; the CSV has each seed's row and then that mean line."""
    table, every = [flat(line, columns) for line in lines], []
    for line, record in zip(lines, table):
        if line.seed_count:
            every += [flat(r, columns) for r in rows if seed_key(r) == seed_key(line)]
        every.append(record)
    return table, every


def task_section(task: str, rows: list[BenchRow], kind: str, root: Path) -> tuple[str, list[dict], list[dict]]:
    """The task's Markdown section (writing its metrics.csv and figures), its table lines and its CSV lines."""
    out, columns = root / task, COLUMNS[kind]
    if kind == "classification":
        paired_tests(rows)
        shown = table_lines(rows)
        records, csv_records = table_records(rows, shown, columns)
    else:
        records = csv_records = [flat(r, columns) for r in rows]
    md = [task_heading(task, rows, kind, out) + baselines_note(rows), markdown_rows(records, columns)]
    # the heading and table alone, for the docs to include (docs/results.md: `--8<-- "results/<task>/table.md"`)
    atomic_write_text(out / "table.md", "\n".join(md).replace(f"## {task}", f"#### {task}", 1))
    figures = []
    if kind == "classification":
        per_class, keys = per_class_records(rows)
        atomic_write_text(out / "metrics.csv", csv_text(per_class, keys))
        labels = rows[0].labels
        md += [
            "\nPer-class F1:\n",
            markdown_table(
                ["Model", "State", "Method", "Mode", *labels],
                [
                    [
                        r.model,
                        state_text(r),
                        method_text(r),
                        r.mode,
                        *(f"{r.metrics['per_class'][label]['f1']:.3f}" for label in labels),
                    ]
                    for r in shown
                    if not r.seed_count  # per-class F1 of one run (a seeded setting: each seed in metrics.csv)
                ],
            ),
        ]
        figures += confusion_figures(task, rows, out / "figures")
        figures += [f for f in (learning_curve_figure(task, rows, out / "figures"),) if f]
        figures += [f for f in (sweep_figure(task, rows, out / "figures"),) if f]
    else:
        atomic_write_text(out / "metrics.csv", csv_text(records, csv_keys(columns)))
    loss = loss_curves_figure(task, rows, out / "figures")
    figures += [loss] if loss else []
    md.append("")
    md += [f"![{path.stem}]({path.relative_to(root).as_posix()})" for path in figures]
    md += ["", samples_section(rows, kind)]
    return "\n".join(md), records, csv_records


def commands_table(root: Path) -> None:
    """results/commands.md from commands.jsonl (sft/run_folders.py record_command): every train-all and bench
    that wrote this folder, with its wall time, work, CPU, precision and commit; the docs include it."""
    log_path = root / run_folders.COMMANDS_LOG
    if not log_path.is_file():
        return
    lines = []
    for entry in read_jsonl(log_path, tolerant=True):
        work = (
            f"{entry['runs_trained']} of {entry['runs']} runs trained"
            if entry["command"] == "train-all"
            else f"{entry.get('rows_computed', 0)} rows computed"
        )
        machine = entry.get("gpu") or entry["cpu"]
        commit = (entry.get("git_commit") or "unknown")[:7] + (
            "+dirty" if str(entry.get("git_commit")).endswith("+dirty") else ""
        )
        lines.append(
            [f"`sftbench {entry['command']}`", entry["experiment"], f"{entry['seconds']:.0f} s", work, machine,
             entry["precision"], f"`{commit}`", entry["finished"][:10]]
        )  # fmt: skip
    header = ["Command", "Experiment", "Wall time", "Work", "Machine", "Precision", "Commit", "Date"]
    atomic_write_text(root / "commands.md", markdown_table(header, lines))


def row_label(record: dict) -> str:
    parts = [record["model"], record["state"], record["method"], record["mode"]]
    return " ".join(part for part in parts if part and part not in ("-", "baseline"))


def headline(root: Path, task: str) -> list[str]:
    """A task's table in a few lines, from results.csv as build_report wrote it: the most accurate row, and each
    fine-tuned row against its base model and the best baseline (the paired differences and their p-values)."""
    with open(root / "results.csv", newline="") as handle:
        records = [r for r in csv.DictReader(handle) if r["task"] == task]
    if not records:
        return [f"{task}: no rows in {root / 'results.csv'}"]
    best = max(records, key=lambda r: float(r["accuracy"]))
    first = (load_rows(root).get(task) or [None])[0]
    lines = [
        f"{task}: n = {first and first.examples} of {first and first.test_size} test records; most accurate: "
        f"{row_label(best)}: accuracy {float(best['accuracy']):.3f} "
        f"[{float(best['accuracy_low']):.3f}, {float(best['accuracy_high']):.3f}]"
    ]
    for record in records:
        if record["state"] == "fine-tuned":
            comparisons = [
                f"{paired_text(record, other)} vs {words}"
                for other, words in (("base", "its base model"), ("baseline", "the best baseline"))
                if record.get(f"diff_vs_{other}")
            ]
            lines.append(f"{row_label(record)}: {float(record['accuracy']):.3f}; " + "; ".join(comparisons))
    return lines


def paired_text(record: dict, other: str) -> str:
    """'+27.1 points [+21.7, +32.5] p<0.001' from a results.csv record's diff_vs_<other> columns."""
    diff, low, high = (float(record[f"diff_vs_{other}{end}"]) * 100 for end in ("", "_low", "_high"))
    p = record.get(f"p_vs_{other}")
    return f"{diff:+.1f} points [{low:+.1f}, {high:+.1f}] {p_text(float(p) if p else None)}"


def build_report(root: Path | None = None) -> Path:
    root = root or results_dir()
    md, tables, csvs = [INTRO], {"classification": [], "domain": []}, {"classification": [], "domain": []}
    for task, rows in load_rows(root).items():
        kind = rows[0].task_kind
        section, records, csv_records = task_section(task, rows, kind, root)
        md.append(section)
        tables[kind] += records
        csvs[kind] += csv_records
        update_model_cards(rows)
    for kind, stem in (("classification", "results"), ("domain", "domain")):
        if tables[kind] or kind == "classification":
            atomic_write_text(root / f"{stem}.csv", csv_text(csvs[kind], csv_keys(COLUMNS[kind])))
            atomic_write_text(root / f"{stem}.tex", latex_table(tables[kind], COLUMNS[kind], kind))
    atomic_write_text(root / "results.md", "\n".join(md).rstrip() + "\n")
    commands_table(root)
    return root / "results.md"


if __name__ == "__main__":
    moved_to("sftbench report")
