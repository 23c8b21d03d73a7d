"""Rebuild every table and figure from the files `bench.run` wrote, without running any model.

    python -m bench.report          # `make report`

Reads results/<task>/rows/*.json (one per benchmarked model, state and mode) and results/runs/*/ (loss
logs), and writes:
    results/results.md, results/results.csv, results/results.tex   one table, every task
    results/domain.csv, results/domain.tex                          domain-text tasks: perplexity, BLEU, chrF
    results/<task>/metrics.csv                                      with per-class precision/recall/F1
    results/<task>/figures/confusion_<model>.png                    base vs fine-tuned, side by side
    results/<task>/figures/loss_curves.png                          every run of the task on one figure
A fine-tuned row counts only while its run is still the finished run it was measured on; rows of runs
that were retrained or are unfinished are left out (and `make bench` measures them again).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from prompts.paths import REPO_ROOT, results_dir
from sft import runs
from sft.errors import run_cli
from sft.fileio import atomic_write_bytes, atomic_write_text, read_jsonl

COLUMNS = [("task", "Task"), ("model", "Model"), ("state", "State"), ("method", "Method"), ("mode", "Mode"),
           ("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("weighted_f1", "Weighted-F1"),
           ("macro_recall", "Macro-recall"), ("invalid_rate", "Invalid"), ("examples_per_s", "Ex/s"),
           ("peak_memory_mb", "Peak MB")]
SCORES = ("accuracy", "macro_f1", "weighted_f1", "macro_recall", "invalid_rate")
DOMAIN_COLUMNS = [("task", "Task"), ("model", "Model"), ("state", "State"), ("method", "Method"),
                  ("perplexity", "Perplexity"), ("bleu", "BLEU"), ("chrf", "chrF"), ("tokens", "Test tokens"),
                  ("tokens_per_s", "Tok/s"), ("peak_memory_mb", "Peak MB")]


def load_rows(root: Path) -> dict[str, list[dict]]:
    """Task -> its current rows, in benchmark order."""
    from bench.run import run_fingerprint

    tasks: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/rows/*.json")):
        row = json.loads(path.read_text())
        if row["state"] == "fine-tuned":
            run_dir = REPO_ROOT / row["run"] if not Path(row["run"]).is_absolute() else Path(row["run"])
            if not runs.is_finished(run_dir) or run_fingerprint(run_dir) != row["run_fingerprint"]:
                continue
        tasks.setdefault(row["task"], []).append(row)
    for rows in tasks.values():
        rows.sort(key=lambda r: (r["order"], r["row_id"]))
        examples = {r["examples"] for r in rows}
        if len(examples) > 1:  # rows measured on different test subsets must not share a table
            newest = max(examples)
            rows[:] = [r for r in rows if r["examples"] == newest]
    return dict(sorted(tasks.items()))


def flat(row: dict) -> dict:
    return {"task": row["task"], "model": row["model"], "state": row["state"], "method": row["method"] or "-",
            "mode": row["mode"], **{k: row["metrics"][k] for k in SCORES},
            "examples_per_s": row["examples_per_s"], "peak_memory_mb": row["peak_memory_mb"]}


def domain_flat(row: dict) -> dict:
    return {"task": row["task"], "model": row["model"], "state": row["state"], "method": row["method"] or "-",
            **{k: row["metrics"][k] for k in ("perplexity", "bleu", "chrf", "tokens")},
            "tokens_per_s": row["tokens_per_s"], "peak_memory_mb": row["peak_memory_mb"]}


def cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "perplexity":
        return f"{value:.2f}"
    if key in ("bleu", "chrf", "tokens_per_s"):
        return f"{value:.1f}"
    if key == "invalid_rate":
        return f"{100 * value:.1f}%"
    if key in SCORES:
        return f"{value:.3f}"
    if key == "examples_per_s":
        return f"{value:.1f}"
    return str(value)


# ---------------------------------------------------------------- tables

def csv_text(records: list[dict], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: (f"{record[k]:.6f}" if isinstance(record[k], float) else
                             "" if record[k] is None else record[k]) for k in keys})
    return out.getvalue()


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                          ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(char, escaped)
    return text


def latex_table(records: list[dict], columns=COLUMNS) -> str:
    keys = [k for k, _ in columns]
    text_columns = sum(1 for k in keys if k in ("task", "model", "state", "method", "mode"))
    lines = [r"\begin{tabular}{" + "l" * text_columns + "r" * (len(keys) - text_columns) + "}", r"\toprule",
             " & ".join(latex_escape(h) for _, h in columns) + r" \\", r"\midrule"]
    previous_task = None
    for record in records:
        if previous_task is not None and record["task"] != previous_task:
            lines.append(r"\midrule")
        previous_task = record["task"]
        lines.append(" & ".join(latex_escape(cell(k, record[k])) for k in keys) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def per_class_records(rows: list[dict]) -> tuple[list[dict], list[str]]:
    labels = rows[0]["labels"]
    keys = [k for k, _ in COLUMNS] + [f"{metric}[{label}]" for label in labels
                                      for metric in ("precision", "recall", "f1", "support")]
    records = []
    for row in rows:
        record = flat(row)
        for label in labels:
            for metric, value in row["metrics"]["per_class"][label].items():
                record[f"{metric}[{label}]"] = value
        records.append(record)
    return records, keys


# ---------------------------------------------------------------- figures

def save_figure(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def confusion_figures(task: str, rows: list[dict], out: Path) -> list[Path]:
    """Per model, the base and fine-tuned confusion matrices side by side (score mode, or the head)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    panels: dict[str, list[dict]] = {}
    for row in rows:
        if row["mode"] in ("score", "head"):
            panels.setdefault(row["model"], []).append(row)
        elif row["state"] == "baseline":
            panels.setdefault("baselines", []).append(row)
    written = []
    for model, model_rows in panels.items():
        labels = model_rows[0]["labels"]
        figure, axes = plt.subplots(1, len(model_rows), figsize=(3.2 + 2.9 * len(model_rows), 3.4 + 0.15 * len(labels)),
                                    squeeze=False)
        for axis, row in zip(axes[0], model_rows):
            matrix = np.array(row["metrics"]["confusion"])
            names = list(labels)
            if matrix[:, -1].sum() == 0:
                matrix = matrix[:, :-1]
            else:
                names.append("invalid")
            sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axis, square=True,
                        xticklabels=names, yticklabels=labels, annot_kws={"size": 10})
            title = row["model"] if row["state"] == "baseline" else f"{row['state']}" + (
                f" ({row['method']})" if row["method"] else "")
            axis.set_title(f"{title}\naccuracy {row['metrics']['accuracy']:.3f}", fontsize=10)
            axis.set_xlabel("predicted")
            axis.set_ylabel("gold")
            axis.tick_params(axis="x", rotation=30)
            axis.tick_params(axis="y", rotation=0)
        figure.suptitle(f"{task}: {model}", fontsize=11)
        figure.tight_layout()
        path = out / f"confusion_{model.replace('/', '_')}.png"
        save_figure(figure, path)
        written.append(path)
    return written


def loss_curves_figure(task: str, out: Path) -> Path | None:
    """Train (lines) and eval (dashed, dots) loss per epoch of every finished run of the task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dirs = sorted(p for p in (results_dir() / "runs" / task).glob("*") if runs.is_finished(p))
    if not run_dirs:
        return None
    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run_dir in enumerate(run_dirs):
        log = read_jsonl(run_dir / "train_log.jsonl", tolerant=True) if (run_dir / "train_log.jsonl").is_file() else []
        train = [(r["epoch"], r["loss"]) for r in log if "loss" in r and "epoch" in r]
        evals = [(r["epoch"], r["eval_loss"]) for r in log if "eval_loss" in r]
        color = colors[index % len(colors)]
        if train:
            axis.plot(*zip(*train), color=color, label=f"{run_dir.name} train")
        if evals:
            axis.plot(*zip(*evals), color=color, linestyle="--", marker="o", label=f"{run_dir.name} eval")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (log scale)")
    axis.set_title(f"{task}: training and evaluation loss")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    path = out / "loss_curves.png"
    save_figure(figure, path)
    return path


# ---------------------------------------------------------------- results.md

def samples_section(rows: list[dict]) -> str:
    """A few test prompts with the gold answer and each generative model's answer, base vs fine-tuned."""
    generated = [r for r in rows if r["mode"] == "generate"]
    if not generated:
        return ""
    lines = ["Sample answers (`generate` mode, greedy):\n"]
    for index, sample in enumerate(generated[0]["samples"]):
        text = sample["input"] if len(sample["input"]) <= 240 else sample["input"][:240] + " ..."
        lines.append(f"{index + 1}. `{sample['id']}`: {text}  \n   gold: **{sample['gold']}**")
        for row in generated:
            answer = row["samples"][index].get("answer", "").strip().replace("\n", " ") or "(empty)"
            lines.append(f"   - {row['model']} {row['state']}: \"{answer[:80]}\" -> {row['samples'][index]['predicted']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def continuation_samples(rows: list[dict]) -> str:
    """Held-out prompts with the real continuation and each model's, side by side."""
    with_samples = [r for r in rows if r.get("samples")]
    if not with_samples:
        return ""
    lines = ["Sample continuations (greedy; the prompt's last 200 characters shown):\n"]
    for index, sample in enumerate(with_samples[0]["samples"]):
        prompt = " ".join(sample["prompt"].split())
        lines.append(f"{index + 1}. `{sample['id']}`: ...{prompt[-200:]}  \n"
                     f"   real: \"{' '.join(sample['reference'].split())}\"")
        for row in with_samples:
            if index < len(row["samples"]):
                text = " ".join(row["samples"][index]["continuation"].split()) or "(empty)"
                lines.append(f"   - {row['model']} {row['state']}: \"{text}\"")
        lines.append("")
    return "\n".join(lines) + "\n"


def domain_section(task: str, rows: list[dict], out: Path, root: Path) -> tuple[str, list[dict]]:
    records = [domain_flat(r) for r in rows]
    keys = [k for k, _ in DOMAIN_COLUMNS]
    atomic_write_text(out / "metrics.csv", csv_text(records, keys))
    loss = loss_curves_figure(task, out / "figures")
    first = rows[0]
    md = [f"## {task} (domain text)\n\n{first['examples']} of {first['test_size']} test blocks of "
          f"{first['block_size']} tokens (held-out documents), {first['prompts']} continuation prompts "
          f"(device: {', '.join(sorted({r['device'] for r in rows}))}). Perplexity is token-weighted over the "
          f"same blocks for a model's base and fine-tuned rows (lower is better; models with different "
          f"tokenizers are not comparable); BLEU and chrF compare greedy continuations with the real text.\n",
          markdown_table([h for k, h in DOMAIN_COLUMNS if k != "task"],
                         [[cell(k, r[k]) for k, _ in DOMAIN_COLUMNS if k != "task"] for r in records]), ""]
    if loss:
        md += [f"![{loss.stem}]({loss.relative_to(root).as_posix()})", ""]
    md.append(continuation_samples(rows))
    return "\n".join(md), records


def build_report(root: Path | None = None) -> Path:
    root = root or results_dir()
    tasks = load_rows(root)
    all_records, md = [], ["# sftbench results\n",
                           "Rebuilt from `results/<task>/rows/*.json` by `make report` (`python -m bench.report`); "
                           "the rows come from `make bench` (`python -m bench.run`). Every row of a task is measured "
                           "on the same test records. `score`: labels ranked by log-likelihood; `generate`: greedy "
                           "answer, then a parser (Invalid = no single label named); `head`: classifier argmax. "
                           "Ex/s is test examples per second (baselines: fit and predict); Peak MB is the process's "
                           "peak resident memory on CPU, or peak allocated GPU memory.\n"]
    domain_records = []
    for task, rows in tasks.items():
        out = root / task
        if rows[0].get("task_kind") == "domain":
            section, records = domain_section(task, rows, out, root)
            md.append(section)
            domain_records += records
            continue
        records, keys = per_class_records(rows)
        atomic_write_text(out / "metrics.csv", csv_text(records, keys))
        all_records += records
        figures = confusion_figures(task, rows, out / "figures")
        loss = loss_curves_figure(task, out / "figures")
        first = rows[0]
        devices = sorted({r["device"] for r in rows})
        md.append(f"## {task}\n\n{first['examples']} of {first['test_size']} test records "
                  f"(labels: {', '.join(first['labels'])}; device: {', '.join(devices)}).\n")
        md.append(markdown_table([h for k, h in COLUMNS if k != "task"],
                                 [[cell(k, r[k]) for k, _ in COLUMNS if k != "task"] for r in records]))
        md.append("\nPer-class F1:\n")
        md.append(markdown_table(["Model", "State", "Mode", *first["labels"]],
                                 [[r["model"], r["state"], r["mode"],
                                   *(f"{r['metrics']['per_class'][label]['f1']:.3f}" for label in first["labels"])]
                                  for r in rows]))
        md.append("")
        for path in figures + ([loss] if loss else []):
            md.append(f"![{path.stem}]({path.relative_to(root).as_posix()})")
        md.append("")
        md.append(samples_section(rows))
    keys = [k for k, _ in COLUMNS]
    atomic_write_text(root / "results.csv", csv_text(all_records, keys))
    atomic_write_text(root / "results.tex", latex_table(all_records))
    if domain_records:
        atomic_write_text(root / "domain.csv", csv_text(domain_records, [k for k, _ in DOMAIN_COLUMNS]))
        atomic_write_text(root / "domain.tex", latex_table(domain_records, DOMAIN_COLUMNS))
    atomic_write_text(root / "results.md", "\n".join(md).rstrip() + "\n")
    return root / "results.md"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    parser.parse_args(argv)
    print(f"report: {build_report()}")
    return 0


if __name__ == "__main__":
    run_cli(main)
