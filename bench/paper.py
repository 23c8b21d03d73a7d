"""A paper-style report from results/ files alone: `make paper` (`sftbench paper`).

    sftbench paper                 # writes results/report/, compiles report.pdf where LaTeX is installed
    sftbench paper --no-pdf        # the LaTeX folder only

results/report/ compiles unchanged on Overleaf (article class, booktabs, graphicx; two columns):
    report.tex            title, abstract, setup, data, one results table per task, figures, samples,
                          reproducibility; Discussion and Limitations are marked stubs for the author's words
    tables/<task>.tex     the benchmark's table with 95% intervals and McNemar p-values (booktabs)
    figures/*.png         the confusion heatmaps and loss curves of results/<task>/figures/
Every number comes from the same row files as results.md (bench/report.py), and no model runs. Nothing in
report.tex depends on the time it was built, so building it twice gives the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from bench.report import load_rows, paired_tests
from bench.seeds import table_lines
from bench.tables import (
    COLUMNS,
    PAIRED_LATEX_KEYS,
    SCORE_LATEX_KEYS,
    flat,
    latex_escape,
    latex_table,
    method_text,
    p_text,
)
from sft import run_folders
from sft.config import shown_model
from sft.models import PACKAGED
from sftbench_common.errors import moved_to
from sftbench_common.fileio import atomic_write_bytes, atomic_write_text
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)

TITLE = "Fine-tuning small language models for classification: sftbench results"
COMMANDS = ("make train-all", "make bench", "make paper")
STUB = r"\textbf{[To be written by the author.]}"


def hub_id(model: str) -> str:
    """The Hub id behind a packaged model name (the paper names the original model)."""
    return PACKAGED[model].hub_id if model in PACKAGED else shown_model(model)


def number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def with_bounds(row: dict, key: str) -> str:
    if key == "accuracy" and row.get("seed_count"):
        return (
            f"{number(row['metrics'][key])} $\\pm$ {number(row['accuracy_sd'])} (mean $\\pm$ sd of "
            f"{row['seed_count']} seeds, range {number(row['accuracy_min'])}--{number(row['accuracy_max'])})"
        )
    if key not in row.get("intervals", {}):
        return number(row["metrics"][key])
    low, high = row["intervals"][key]
    return f"{number(row['metrics'][key])} [{number(low)}, {number(high)}]"


def versus(row: dict, diff_key: str, p_key: str) -> str:
    """'+3.1 points [-0.5, +6.8], p=0.092' (the accuracy difference with its 95% interval, and McNemar's p)."""
    difference, (low, high) = row[diff_key]["difference"], row[diff_key]["interval"]
    shown = f"{100 * difference:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}], {p_text(row.get(p_key))}"
    return latex_escape(shown)


# ---------------------------------------------------------------- sections


def abstract(tasks: dict[str, list[dict]]) -> str:
    """One sentence per classification task: its best fine-tuned row against its base and best baseline."""
    sentences = []
    for task, rows in tasks.items():
        tuned = [
            r
            for r in table_lines(rows)
            if r["state"] == "fine-tuned" and r["task_kind"] == "classification" and not r.get("not_chosen")
        ]
        if not tuned:
            continue
        best = max(tuned, key=lambda r: r["metrics"]["accuracy"])
        base = best.get("base_row")
        text = (
            f"On {latex_escape(task)} (n = {best['examples']} test records), the best fine-tuned model, "
            f"{latex_escape(hub_id(best['model']))} ({latex_escape(method_text(best))}, {best['mode']} mode), reaches "
            f"accuracy {with_bounds(best, 'accuracy')}"
        )
        if best.get("diff_vs_base"):
            text += (
                f"; against its base model ({number(base['metrics']['accuracy'])}) "
                f"{versus(best, 'diff_vs_base', 'p_vs_base')}"
            )
        if best.get("diff_vs_fewshot"):
            text += (
                f"; against the base model prompted with {best['fewshot_row']['shots']} examples "
                f"{versus(best, 'diff_vs_fewshot', 'p_vs_fewshot')}"
            )
        if best.get("diff_vs_baseline"):
            text += f"; against the best classical baseline {versus(best, 'diff_vs_baseline', 'p_vs_baseline')}"
        if best.get("seed_count"):
            text += (
                f" (mean of {best['seed_count']} seeds; intervals over seeds and test records, p the largest over "
                f"the seeds)"
            )
        sentences.append(text + ".")
    if not sentences:
        return "No fine-tuned classification run has been benchmarked yet."
    return (
        "We fine-tune small language models and an encoder on classification tasks rendered as instruction "
        "data and benchmark each, before and after fine-tuning, on held-out test records. "
        + " ".join(sentences)
        + " Differences are in accuracy points with Tango's 95\\% score interval for paired proportions and the "
        "exact McNemar $p$; accuracy intervals are 95\\% (Wilson)."
    )


def finished_run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs").glob("*/*") if p.is_dir() and run_folders.is_finished(p))


SETUP = (
    r"\section{Setup}"
    "\n"
    "Each run fine-tunes one model on one task's training split with the settings of Table~\\ref{tab:runs} "
    "(from the run's \\texttt{config.yaml} and \\texttt{run.json}); LoRA adapts every linear layer unless "
    "noted. Generative models are trained on the answer tokens only (TRL prompt/completion data) and scored by "
    "the log-likelihood of each label (\\texttt{score}) and by greedy decoding (\\texttt{generate}).\n"
)


def runs_table(root: Path) -> str:
    """A table of every finished run: model, task, method and the settings that shape it; the seeds of one
    setting share a line (their mean time). A longtable, so a study's dozens of runs break across pages."""
    lines = [
        r"\begingroup\scriptsize\setlength{\tabcolsep}{2.5pt}",
        r"\begin{longtable}{lllrrrrrlr}",
        r"\caption{Training runs (runs that differ only in their seed share a line). Precision is the one the "
        r"run's machine used; time is training wall time (the mean over the seeds).}\label{tab:runs}\\",
        r"\toprule",
        r"Task & Model (Hub name) & Method & LoRA $r$ & LR & Epochs & Batch & Train ex. & Precision, hardware, seeds "
        r"& Time (s) \\",
        r"\midrule",
        r"\endhead",
    ]
    settings: dict[tuple, list[tuple[dict, dict, Path]]] = {}
    for run_dir in finished_run_dirs(root):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        same = {k: v for k, v in config.items() if k not in ("seed", "run_name")}
        key = (run_dir.parent.name, yaml.safe_dump(same))
        settings.setdefault(key, []).append((config, run_folders.read_run(run_dir), run_dir))
    for runs in settings.values():
        config, info, run_dir = runs[0]
        hardware = info.get("hardware", {})
        machine = hardware.get("gpu") or ("CPU, AVX-512 BF16" if hardware.get("cpu_bf16") else "CPU")
        rank = str(config["lora_r"]) if config["method"] in ("lora", "qlora", "lora-head") else "-"
        seeds = f", seeds {','.join(str(c['seed']) for c, _, _ in runs)}" if len(runs) > 1 else ""
        cells = [
            run_dir.parent.name,
            hub_id(config["model"]).rsplit("/", 1)[-1],  # the organisation: in config.yaml and the Hub
            config["method"],
            rank,
            f"{config['lr']:g}",
            f"{config['epochs']:g}",
            str(config["batch_size"] * config.get("grad_accum", 1)),
            str(info.get("train_examples", "-")),
            f"{info.get('precision', '-')}, {machine}{seeds}",
            f"{sum(i.get('wall_time_s', 0) for _, i, _ in runs) / len(runs):.0f}",
        ]
        lines.append(" & ".join(latex_escape(c) for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{longtable}", r"\endgroup", ""]
    return "\n".join(lines)


def data_section(tasks: dict[str, list[dict]]) -> str:
    lines = [r"\section{Data}", "Every model of a task is scored on the same test records.", r"\begin{itemize}"]
    for task, rows in tasks.items():
        first = rows[0]
        unit = "test blocks" if first["task_kind"] == "domain" else "test records"
        labels = f" Labels: {', '.join(first['labels'])}." if first.get("labels") else ""
        lines.append(
            f"\\item \\textbf{{{latex_escape(task)}}}: n = {first['examples']} of {first['test_size']} "
            f"{unit}. Split: {latex_escape(first.get('split') or 'not recorded')}.{latex_escape(labels)}"
        )
    return "\n".join(lines + [r"\end{itemize}", ""])


def figure_caption(task: str, stem: str) -> str:
    if stem == "learning_curve":
        return (
            f"{task}: test accuracy against the number of training records, each point with the setting chosen on "
            f"validation at that size; bars: 95% interval of the mean over seeds and test records (pigeonhole "
            f"bootstrap; a single run: Wilson), each seed a dot; dashed: classical baselines trained on the same "
            f"records; dotted: the base models prompted zero-shot and with in-context examples."
        )
    if stem == "sweep":
        return f"{task}: the validation metric of every setting a sweep trained; the filled bar is the one chosen."
    if stem == "loss_curves":
        return (
            f"{task}: training (solid) and evaluation (dashed) loss of every run, per epoch; where runs logged it, "
            f"the label accuracy on the validation records at each evaluation (right)."
        )
    if stem == "confusion_baselines":
        return f"{task}: confusion matrices of the classical baselines (rows: gold, columns: predicted)."
    return (
        f"{task}: confusion matrices of {stem.removeprefix('confusion_')}, base (left) and fine-tuned at its largest "
        f"training size (right; each seed's, titled with it); rows gold, columns predicted, with a column for invalid "
        f"answers where there are any. Every other row's: the results page."
    )


def results_section(tasks: dict[str, list[dict]], out: Path, root: Path, runs: str) -> str:
    """One column from here on: each task's table, then its figures, pinned in place ([H]) so nothing drifts
    into another task (two-column LaTeX can only put full-width floats at the top of a later page)."""
    lines = [
        r"\onecolumn",
        r"\section{Results}",
        "Tables give each metric with its 95\\% interval (low, high). A fine-tuned row is compared, on the same "
        "records, with its base model in the same mode, with the task's most accurate baseline and with its "
        "model's best in-context row: the accuracy difference in points with Tango's 95\\% score interval for "
        "paired proportions, and the exact McNemar $p$. A difference is supported where $p < 0.05$; the interval "
        "shows which differences the test rules out. A line over several training seeds gives accuracy as mean "
        "$\\pm$ sd with a 95\\% interval over seeds and test records (pigeonhole bootstrap) as low and high, mean "
        "differences with the same kind of interval, and the largest $p$ over the seeds. The confusion matrices "
        "shown are the base model's, the fine-tuned model's at its largest training size (each seed's) and the "
        "baselines'; every row's matrix, every test record's answer and any two rows side by side are in the "
        "results page, \\texttt{results/index.html} beside this report's folder (one file; it opens from disk).",
        "",
        runs,
    ]
    for task, rows in tasks.items():
        kind = rows[0]["task_kind"]
        records = [flat(row, COLUMNS[kind]) for row in (table_lines(rows) if kind == "classification" else rows)]
        stem = task.replace("/", "_")
        scores = SCORE_LATEX_KEYS if kind == "classification" else None
        atomic_write_text(out / "tables" / f"{stem}.tex", latex_table(records, COLUMNS[kind], kind, scores))
        what = "perplexity (lower is better), BLEU and chrF" if kind == "domain" else "accuracy and macro-F1"
        unit = "blocks" if kind == "domain" else "records"
        lines += [
            f"\\subsection{{{latex_escape(task)}}}",
            r"\begin{table}[H]",
            r"\centering\small",
            f"\\caption{{{latex_escape(task)}: {what} of every model on the same {rows[0]['examples']} test "
            f"{unit}; device and precision per row.}}",
            f"\\label{{tab:{stem}}}",
            r"\resizebox{\textwidth}{!}{\input{tables/" + stem + ".tex}}",
            r"\end{table}",
            "",
        ]
        paired = [r for r in records if r.get("diff_vs_base") is not None or r.get("diff_vs_baseline") is not None]
        if kind == "classification" and paired:
            table = latex_table(paired, COLUMNS[kind], kind, PAIRED_LATEX_KEYS)
            atomic_write_text(out / "tables" / f"{stem}-paired.tex", table)
            lines += [
                r"\begin{table}[H]",
                r"\centering\small",
                f"\\caption{{{latex_escape(task)}: each fine-tuned row against its base model, the best baseline and "
                f"the best in-context row on the same records: the accuracy difference in points, its 95\\% "
                f"interval (Tango; over seeds and records for a mean over seeds) and the exact McNemar $p$.}}",
                r"\resizebox{\textwidth}{!}{\input{tables/" + stem + "-paired.tex}}",
                r"\end{table}",
                "",
            ]
        for figure in sorted((root / task / "figures").glob("*.png"), key=lambda p: p.stem == "loss_curves"):
            name = f"{stem}_{figure.name}"
            atomic_write_bytes(out / "figures" / name, figure.read_bytes())
            width = "0.95" if figure.stem == "loss_curves" else "0.85"
            lines += [
                r"\begin{figure}[H]",
                r"\centering",
                f"\\includegraphics[width={width}\\linewidth,height=0.28\\textheight,keepaspectratio]"
                f"{{figures/{name}}}",
                f"\\caption{{{latex_escape(figure_caption(task, figure.stem))}}}",
                r"\end{figure}",
                "",
            ]
    return "\n".join(lines)


def samples_section(tasks: dict[str, list[dict]]) -> str:
    lines = [
        r"\section{Sample answers}",
        "A few held-out test inputs, the gold answer and each generative model's greedy answer.",
        "",
    ]
    found = False
    for task, rows in tasks.items():
        generated = [r for r in rows if r["mode"] == "generate" and r.get("samples")]
        if not generated:
            continue
        found = True
        lines.append(f"\\paragraph{{{latex_escape(task)}}}")
        lines.append(r"\begin{itemize}")
        for index, sample in enumerate(generated[0]["samples"][:2]):
            text = sample["input"] if len(sample["input"]) <= 200 else sample["input"][:200] + " ..."
            answers = "; ".join(
                f"{r['model']} {r['state']}: ``{' '.join(r['samples'][index].get('answer', '').split())[:40]}''"
                for r in generated
                if index < len(r["samples"])
            )
            lines.append(
                f"\\item {latex_escape(text)} \\emph{{Gold: {latex_escape(sample['gold'])}.}} {latex_escape(answers)}"
            )
        lines.append(r"\end{itemize}")
    return "\n".join(lines) + "\n" if found else ""


def reproducibility_section(root: Path) -> str:
    runs = [run_folders.read_run(p) for p in finished_run_dirs(root)]
    commits = sorted({info.get("git_commit") or "unknown" for info in runs})
    versions = runs[0].get("versions", {}) if runs else {}
    packages = ", ".join(f"{name} {version}" for name, version in versions.items())
    return "\n".join(
        [
            r"\section{Reproducibility}",
            "The runs, tables and figures come from "
            + ", ".join(f"\\texttt{{{c}}}" for c in COMMANDS)
            + " on a clone of the repository at commit "
            + ", ".join(f"\\texttt{{{latex_escape(c)}}}" for c in commits)
            + f", with {latex_escape(packages) or 'the pinned requirements'}. Each run's folder under "
            r"\texttt{results/runs/} holds its full configuration, seed and training log; each table row's file "
            r"under \texttt{results/<task>/rows/} holds its metrics, intervals and the per-record answers the paired "
            "tests use.",
            "",
        ]
    )


def build_paper(root: Path | None = None) -> Path:
    root = root or results_dir()
    out = root / "report"
    tasks = load_rows(root)
    for rows in tasks.values():
        if rows[0]["task_kind"] == "classification":
            paired_tests(rows)
    body = [
        r"\documentclass[10pt,twocolumn]{article}",
        r"\usepackage[margin=0.75in]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{longtable}",
        r"\usepackage{float}",
        r"\usepackage{graphicx}",
        r"\usepackage[hidelinks]{hyperref}",
        f"\\title{{{TITLE}}}",
        r"\author{[Author names]}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        r"\begin{abstract}",
        abstract(tasks),
        r"\end{abstract}",
        "",
        SETUP,
        data_section(tasks),
        results_section(tasks, out, root, runs_table(root)),
        samples_section(tasks),
        r"\section{Discussion}",
        STUB,
        "",
        r"\section{Limitations}",
        STUB,
        "",
        reproducibility_section(root),
        r"\end{document}",
        "",
    ]
    return atomic_write_text(out / "report.tex", "\n".join(body))


def compile_pdf(tex: Path) -> Path | None:
    """report.pdf with latexmk (or pdflatex twice); None, with instructions, where LaTeX is not installed."""
    if shutil.which("latexmk"):
        command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex.name]
    elif shutil.which("pdflatex"):
        command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name]
    else:
        log.info(
            "LaTeX is not installed: upload results/report/ to Overleaf as it is, or install it "
            "(Debian/Ubuntu/Colab: apt-get install texlive-latex-recommended latexmk) and run `make paper` again"
        )
        return None
    for _ in range(1 if command[0] == "latexmk" else 2):
        done = subprocess.run(command, cwd=tex.parent, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed on {tex}:\n{done.stdout[-3000:]}")
    return tex.with_suffix(".pdf")


if __name__ == "__main__":
    moved_to("sftbench paper")
