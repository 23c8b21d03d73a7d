"""A paper-style report from results/ files alone: `make paper` (`sftbench paper`).

    sftbench paper                 # writes results/report/, compiles report.pdf where LaTeX is installed
    sftbench paper --no-pdf        # the LaTeX folder only

results/report/ compiles unchanged on Overleaf (article class, booktabs, graphicx; two columns):
    report.tex            title, abstract, setup, data, one results table per task, figures, samples,
                          reproducibility; Discussion and Limitations are marked stubs for the author's words
    tables/<task>.tex     the benchmark's table with 95% intervals and McNemar p-values (booktabs)
    figures/*.png         the confusion heatmaps and loss curves of results/<task>/figures/
report.tex is the template bench/templates/report.tex (the layout, Jinja) filled with what this module works out
from the row files (the data, escaped for LaTeX); the tables and figures are written beside it first. Every number
comes from the same row files as results.md (bench/report.py), and no model runs. Nothing in report.tex depends on
the time it was built, so building it twice gives the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import yaml

from bench.report import load_rows, paired_tests
from bench.row_file import BenchRow
from bench.seeds import seed_key, table_lines
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
TEMPLATES = Path(__file__).parent / "templates"  # report.tex: the layout


def hub_id(model: str) -> str:
    """The Hub id behind a packaged model name (the paper names the original model)."""
    return PACKAGED[model].hub_id if model in PACKAGED else shown_model(model)


def number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def with_bounds(row: BenchRow, key: str) -> str:
    if key == "accuracy" and row.seed_count:
        return (
            f"{number(row.metrics[key])} $\\pm$ {number(row.accuracy_sd)} (mean $\\pm$ sd of "
            f"{row.seed_count} seeds, range {number(row.accuracy_min)}--{number(row.accuracy_max)})"
        )
    if key not in row.intervals:
        return number(row.metrics[key])
    low, high = row.intervals[key]
    return f"{number(row.metrics[key])} [{number(low)}, {number(high)}]"


def versus(row: BenchRow, diff_key: str, p_key: str) -> str:
    """'+3.1 points [-0.5, +6.8], p=0.092' (the accuracy difference with its 95% interval, and McNemar's p)."""
    paired = getattr(row, diff_key)
    difference, (low, high) = paired["difference"], paired["interval"]
    shown = f"{100 * difference:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}], {p_text(getattr(row, p_key))}"
    return latex_escape(shown)


# ---------------------------------------------------------------- sections


def abstract(lines: dict[str, list[BenchRow]]) -> str:
    """One sentence per classification task, from its table lines (task_lines): its best fine-tuned line against
    its base and best baseline."""
    sentences = []
    for task, shown in lines.items():
        tuned = [r for r in shown if r.state == "fine-tuned" and r.task_kind == "classification" and not r.not_chosen]
        if not tuned:
            continue
        best = max(tuned, key=lambda r: r.accuracy)
        text = (
            f"On {latex_escape(task)} (n = {best.examples} test records), the best fine-tuned model, "
            f"{latex_escape(hub_id(best.model))} ({latex_escape(method_text(best))}, {best.mode} mode), reaches "
            f"accuracy {with_bounds(best, 'accuracy')}"
        )
        if best.diff_vs_base:
            text += (
                f"; against its base model ({number(best.base_row.accuracy)}) "
                f"{versus(best, 'diff_vs_base', 'p_vs_base')}"
            )
        if best.diff_vs_fewshot:
            text += (
                f"; against the base model prompted with {best.fewshot_row.shots} examples "
                f"{versus(best, 'diff_vs_fewshot', 'p_vs_fewshot')}"
            )
        if best.diff_vs_baseline:
            text += f"; against the best classical baseline {versus(best, 'diff_vs_baseline', 'p_vs_baseline')}"
        if best.seed_count:
            text += (
                f" (mean of {best.seed_count} seeds; intervals over seeds and test records, p the largest over "
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


def seed_settings(tasks: dict[str, list[BenchRow]]) -> dict[Path, tuple]:
    """Each benchmarked run that is one seed of a setting -> that setting (bench/seeds.py seed_key, the key the
    table's seeds lines use, without the mode)."""
    return {
        run_folders.resolve_path(row.run).resolve(): key[:2]
        for rows in tasks.values()
        for row in rows
        if row.run and (key := seed_key(row)) is not None
    }


def runs_table(root: Path, tasks: dict[str, list[BenchRow]]) -> list[list[str]]:
    """The cells of the runs table, a line per finished run: model, task, method and the settings that shape it;
    the seeds of one setting (seed_settings) share a line, with their mean time."""
    settings: dict[tuple, list[tuple[dict, dict, Path]]] = {}
    seeds_of = seed_settings(tasks)
    for run_dir in finished_run_dirs(root):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        key = (run_dir.parent.name, seeds_of.get(run_dir.resolve(), run_dir.name))
        settings.setdefault(key, []).append((config, run_folders.read_run(run_dir), run_dir))
    lines = []
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
        lines.append([latex_escape(c) for c in cells])
    return lines


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


def task_figures(root: Path, task: str) -> list[Path]:
    """The task's figures under results/<task>/figures/, the loss curves last."""
    return sorted((root / task / "figures").glob("*.png"), key=lambda p: p.stem == "loss_curves")


def stem_of(task: str) -> str:
    """The task's name in the report's file names (tables/<stem>.tex, figures/<stem>_<figure>.png)."""
    return task.replace("/", "_")


def task_lines(rows: list[BenchRow]) -> list[BenchRow]:
    """A task's table lines: a classification task's seeds folded into their mean (bench/seeds.py), paired tests
    done first; a domain task's rows as they are."""
    if rows[0].task_kind != "classification":
        return rows
    paired_tests(rows)
    return table_lines(rows)


def latex_records(lines: list[BenchRow]) -> tuple[list[dict], list[dict]]:
    """A task's table lines as table records, and those of them with a paired comparison (classification only)."""
    kind = lines[0].task_kind
    records = [flat(line, COLUMNS[kind]) for line in lines]
    paired = [r for r in records if r.get("diff_vs_base") is not None or r.get("diff_vs_baseline") is not None]
    return records, paired if kind == "classification" else []


def task_entry(root: Path, task: str, rows: list[BenchRow], paired: bool) -> dict:
    """What the template shows of a task: the data line, the table captions and the figures, escaped for LaTeX."""
    first = rows[0]
    domain = first.task_kind == "domain"
    labels = f" Labels: {', '.join(first.labels)}." if first.labels else ""
    stem = stem_of(task)
    return {
        "name": latex_escape(task),
        "stem": stem,
        "examples": first.examples,
        "test_size": first.test_size,
        "unit": "blocks" if domain else "records",
        "split": latex_escape(first.split or "not recorded"),
        "labels": latex_escape(labels),
        "measured": "perplexity (lower is better), BLEU and chrF" if domain else "accuracy and macro-F1",
        "paired": paired,
        "figures": [
            {
                "name": f"{stem}_{figure.name}",
                "width": "0.95" if figure.stem == "loss_curves" else "0.85",
                "caption": latex_escape(figure_caption(task, figure.stem)),
            }
            for figure in task_figures(root, task)
        ],
    }


def write_tables_and_figures(task: str, kind: str, tables: tuple[list[dict], list[dict]], out: Path, root: Path):
    """report/tables/<stem>.tex (the scores; -paired.tex, the paired comparisons) and report/figures/ (copies of
    results/<task>/figures/), which report.tex includes."""
    (records, paired), stem = tables, stem_of(task)
    scores = SCORE_LATEX_KEYS if kind == "classification" else None
    atomic_write_text(out / "tables" / f"{stem}.tex", latex_table(records, COLUMNS[kind], kind, scores))
    if paired:
        atomic_write_text(
            out / "tables" / f"{stem}-paired.tex", latex_table(paired, COLUMNS[kind], kind, PAIRED_LATEX_KEYS)
        )
    for figure in task_figures(root, task):
        atomic_write_bytes(out / "figures" / f"{stem}_{figure.name}", figure.read_bytes())


def sample_answers(tasks: dict[str, list[BenchRow]]) -> list[dict]:
    """Per task with generate rows: two held-out inputs, the gold answer and each generative model's answer."""
    found = []
    for task, rows in tasks.items():
        generated = [r for r in rows if r.mode == "generate" and r.samples]
        if not generated:
            continue
        items = []
        for index, sample in enumerate(generated[0].samples[:2]):
            text = sample["input"] if len(sample["input"]) <= 200 else sample["input"][:200] + " ..."
            answers = "; ".join(
                f"{r.model} {r.state}: ``{' '.join(r.samples[index].get('answer', '').split())[:40]}''"
                for r in generated
                if index < len(r.samples)
            )
            items.append(
                f"{latex_escape(text)} \\emph{{Gold: {latex_escape(sample['gold'])}.}} {latex_escape(answers)}"
            )
        found.append({"name": latex_escape(task), "items": items})
    return found


def reproducibility(root: Path) -> dict:
    runs = [run_folders.read_run(p) for p in finished_run_dirs(root)]
    commits = sorted({info.get("git_commit") or "unknown" for info in runs})
    versions = runs[0].get("versions", {}) if runs else {}
    packages = ", ".join(f"{name} {version}" for name, version in versions.items())
    return {
        "commands": ", ".join(f"\\texttt{{{c}}}" for c in COMMANDS),
        "commits": ", ".join(f"\\texttt{{{latex_escape(c)}}}" for c in commits),
        "packages": latex_escape(packages) or "the pinned requirements",
    }


def render(context: dict) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        block_start_string="((*",
        block_end_string="*))",
        variable_start_string="(((",
        variable_end_string=")))",
        comment_start_string="((=",
        comment_end_string="=))",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.tex").render(context)


def build_paper(root: Path | None = None) -> Path:
    """results/report/report.tex from the template bench/templates/report.tex, with its tables and figures."""
    root = root or results_dir()
    out = root / "report"
    tasks = load_rows(root)
    lines = {task: task_lines(rows) for task, rows in tasks.items()}
    tables = {task: latex_records(shown) for task, shown in lines.items()}
    for task, rows in tasks.items():
        write_tables_and_figures(task, rows[0].task_kind, tables[task], out, root)
    context = {
        "title": TITLE,
        "abstract": abstract(lines),
        "tasks": [task_entry(root, task, rows, bool(tables[task][1])) for task, rows in tasks.items()],
        "runs": runs_table(root, tasks),
        "samples": sample_answers(tasks),
        **reproducibility(root),
    }
    return atomic_write_text(out / "report.tex", render(context))


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
