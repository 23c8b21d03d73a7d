"""The report's figures: confusion heatmaps (base vs fine-tuned, side by side) and loss curves per task.

matplotlib and seaborn load inside the functions (2 s to import; `bench.run --help` imports this module).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bench.row_file import BenchRow
from bench.statistics import correct_matrix, pigeonhole_interval
from sft import run_folders
from sft.run_groups import settings_text
from sftbench_common.fileio import atomic_write_bytes, read_jsonl


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> None:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def curve_of(row: BenchRow) -> tuple[str, str]:
    """A learning curve's points are groups of their own (one per size): the curve is the model and method."""
    return row.model, row.method


def largest_sizes(rows: list[BenchRow]) -> dict[tuple[str, str], int]:
    """Each learning curve's largest training size among the fine-tuned rows."""
    largest: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.train_size and row.state == "fine-tuned":
            largest[curve_of(row)] = max(largest.get(curve_of(row), 0), row.train_size)
    return largest


def confusion_panels(rows: list[BenchRow]) -> dict[str, list[BenchRow]]:
    """Per model, the rows whose confusion matrices are drawn side by side: its base row (zero-shot) and its
    fine-tuned rows in score mode (or by its head), of a learning curve only the largest size; the baselines
    together. A row of several seeds is drawn once per seed, each panel titled with its seed (a matrix belongs
    to one seed, not to their mean); the results page holds every row's matrix."""
    largest = largest_sizes(rows)
    panels: dict[str, list[BenchRow]] = {}
    for row in rows:
        if row.state == "baseline":
            if not row.train_size:
                panels.setdefault("baselines", []).append(row)
        elif row.mode in ("score", "head") and not row.shots and not row.not_chosen:
            if row.train_size and row.train_size != largest[curve_of(row)]:
                continue
            panels.setdefault(row.model, []).append(row)
    return panels


def panel_title(row: BenchRow) -> str:
    if row.state == "baseline":
        return row.model
    title = row.state + (f" ({row.method})" if row.method else "")
    details = [
        f"n={row.train_size}" if row.train_size else "",
        f"seed {row.seed}" if row.seed is not None and row.seeds else "",
    ]
    return title + "".join(f", {d}" for d in details if d)


def confusion_figures(task: str, rows: list[BenchRow], out: Path) -> list[Path]:
    """Per model, the base and fine-tuned confusion matrices side by side (confusion_panels), and the baselines'."""
    import seaborn as sns

    plt = _pyplot()
    written = []
    for model, model_rows in confusion_panels(rows).items():
        labels = model_rows[0].labels
        figure, axes = plt.subplots(
            1, len(model_rows), figsize=(3.2 + 2.9 * len(model_rows), 3.4 + 0.15 * len(labels)), squeeze=False
        )
        for axis, row in zip(axes[0], model_rows):
            matrix = np.array(row.metrics["confusion"])
            names = list(labels)
            if matrix[:, -1].sum() == 0:
                matrix = matrix[:, :-1]
            else:
                names.append("invalid")
            sns.heatmap(
                matrix,
                annot=True,
                fmt="d",
                cmap="Blues",
                cbar=False,
                ax=axis,
                square=True,
                xticklabels=names,
                yticklabels=labels,
                annot_kws={"size": 10},
            )
            axis.set_title(f"{panel_title(row)}\naccuracy {row.accuracy:.3f}", fontsize=10)
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


def loss_curve_runs(rows: list[BenchRow]) -> list[Path]:
    """The runs whose curves are drawn: each benchmarked run, but of several seeds only the first, and of a
    learning curve only its largest size (the figure stays readable with a study's dozens of runs)."""
    largest = largest_sizes(rows)
    chosen = set()
    for row in rows:
        if row.state != "fine-tuned" or not row.run or row.not_chosen:
            continue
        if row.seeds and row.seed != row.seeds[0]:
            continue
        if row.train_size and row.train_size != largest[curve_of(row)]:
            continue
        chosen.add(run_folders.resolve_path(row.run))
    return sorted(p for p in chosen if run_folders.is_finished(p))


def loss_curves_figure(task: str, rows: list[BenchRow], out: Path) -> Path | None:
    """Train (lines) and eval (dashed, dots) loss per epoch of the task's benchmarked runs (loss_curve_runs) and,
    where runs logged it, a second panel with the label accuracy on the val records at each evaluation."""
    plt = _pyplot()
    run_dirs = loss_curve_runs(rows)
    if not run_dirs:
        return None
    logs = {
        run_dir: read_jsonl(run_dir / "train_log.jsonl", tolerant=True)
        if (run_dir / "train_log.jsonl").is_file()
        else []
        for run_dir in run_dirs
    }
    with_accuracy = any("eval_label_accuracy" in r for log in logs.values() for r in log)
    figure, axes = plt.subplots(
        1, 2 if with_accuracy else 1, figsize=(12.5 if with_accuracy else 7.5, 4.2), squeeze=False
    )
    loss_axis = axes[0][0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (run_dir, log) in enumerate(logs.items()):
        train = [(r["epoch"], r["loss"]) for r in log if "loss" in r and "epoch" in r]
        evals = [(r["epoch"], r["eval_loss"]) for r in log if "eval_loss" in r]
        accuracy = [(r["epoch"], r["eval_label_accuracy"]) for r in log if "eval_label_accuracy" in r]
        color = colors[index % len(colors)]
        if train:
            loss_axis.plot(*zip(*train), color=color, label=f"{run_dir.name} train")
        if evals:
            loss_axis.plot(*zip(*evals), color=color, linestyle="--", marker="o", label=f"{run_dir.name} eval")
        if accuracy:
            axes[0][1].plot(*zip(*accuracy), color=color, marker="o", label=run_dir.name)
    loss_axis.set_yscale("log")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss (log scale)")
    loss_axis.set_title(f"{task}: training and evaluation loss")
    loss_axis.grid(alpha=0.3)
    loss_axis.legend(fontsize=8)
    if with_accuracy:
        axis = axes[0][1]
        axis.set_xlabel("epoch")
        axis.set_ylabel("label accuracy (val records)")
        axis.set_ylim(0, 1.02)
        axis.set_title(f"{task}: label accuracy at each evaluation")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = out / "loss_curves.png"
    save_figure(figure, path)
    return path


def point_interval(point_rows: list[BenchRow]) -> list[float]:
    """A learning-curve point's 95% interval: over seeds and test records together for several seeds (the
    pigeonhole bootstrap of the mean, as a seeds line in the table), Wilson for one run."""
    if len(point_rows) > 1:
        return pigeonhole_interval(correct_matrix([r.correct for r in point_rows]))
    return point_rows[0].intervals["accuracy"]


def learning_curve_figure(task: str, rows: list[BenchRow], out: Path) -> Path | None:
    """Test accuracy against the number of training records: one line per fine-tuned model (score mode or its
    head; the mean over seeds, each seed a small dot), each point with its 95% interval (point_interval) and the
    setting chosen on validation at that size written beside it, the classical baselines trained on the same
    records dashed, and each base model's in-context rows as horizontal dotted lines."""
    curve = [
        r for r in rows if r.train_size and r.state == "fine-tuned" and r.mode in ("score", "head") and not r.not_chosen
    ]
    if not curve:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8.5, 5.0))
    lines: dict[str, dict[int, list[BenchRow]]] = {}
    for row in curve:
        name = f"{row.model} {row.method}" + (" (chosen on val at each size)" if row.sweep else "")
        lines.setdefault(name, {}).setdefault(row.train_size, []).append(row)
    whole = next((r.train_size for r in curve if r.whole_train), None)  # the whole split's size
    for row in rows:
        size = row.train_size or whole
        if row.state == "baseline" and size:
            lines.setdefault(f"{row.model} (baseline)", {}).setdefault(size, []).append(row)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, points) in enumerate(lines.items()):
        sizes = sorted(points)
        means = [float(np.mean([r.accuracy for r in points[n]])) for n in sizes]
        bounds = [point_interval(points[n]) for n in sizes]
        color = colors[index % len(colors)]
        baseline = name.endswith("(baseline)")
        axis.errorbar(
            sizes,
            means,
            yerr=[[m - low for m, (low, _) in zip(means, bounds)], [high - m for m, (_, high) in zip(means, bounds)]],
            color=color,
            linestyle="--" if baseline else "-",
            marker="s" if baseline else "o",
            markersize=4,
            capsize=3,
            alpha=0.7 if baseline else 1.0,
            label=name,
        )
        for n, mean in zip(sizes, means):
            if len(points[n]) > 1:
                axis.scatter([n] * len(points[n]), [r.accuracy for r in points[n]], color=color, s=8)
            chosen = (points[n][0].sweep or {}).get("chosen")
            if chosen and not baseline:
                axis.annotate(
                    settings_text(chosen),
                    (n, mean),
                    textcoords="offset points",
                    xytext=(4, -11),
                    fontsize=6.5,
                    color=color,
                )
    for index, row in enumerate(r for r in rows if r.state == "base" and r.mode == "score"):
        shots = f"{row.shots}-shot" if row.shots else "zero-shot"
        axis.axhline(
            row.accuracy, color="gray", linestyle=(0, (1, 1 + index)), linewidth=1, label=f"{row.model} base, {shots}"
        )
    axis.set_xscale("log", base=2)
    axis.set_xlabel("training records (log scale)")
    axis.set_ylabel(f"test accuracy (n = {rows[0].examples})")
    axis.set_title(
        f"{task}: learning curve\nbars: 95% interval of the mean over seeds and test records (pigeonhole bootstrap; "
        f"one run: Wilson); dots: single seeds",
        fontsize=9,
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path = out / "learning_curve.png"
    save_figure(figure, path)
    return path


def sweep_figure(task: str, rows: list[BenchRow], out: Path) -> Path | None:
    """Each sweep's validation metric for every setting it trained, the chosen one filled: what the choice saw."""
    sweeps: dict[str, dict] = {}
    for row in rows:
        if row.sweep and row.state == "fine-tuned":
            size = f" (n={row.train_size})" if row.train_size else ""
            sweeps.setdefault(f"{row.model} {row.method}{size}", row.sweep)
    if not sweeps:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(sweeps), figsize=(1.5 + 3.2 * len(sweeps), 3.8), squeeze=False)
    for axis, (name, sweep) in zip(axes[0], sweeps.items()):
        metric = sweep["metric"]
        labels = [settings_text(s["settings"]) for s in sweep["settings"]]
        values = [s.get(metric, float("nan")) for s in sweep["settings"]]
        chosen = [s["settings"] == sweep["chosen"] for s in sweep["settings"]]
        axis.bar(range(len(values)), values, color=["tab:blue" if c else "white" for c in chosen], edgecolor="tab:blue")
        axis.set_xticks(range(len(values)), labels, rotation=35, ha="right", fontsize=8)
        axis.set_ylabel(metric.removeprefix("eval_").replace("_", " ") + " (val records)")
        if metric == "eval_label_accuracy":
            axis.set_ylim(max(0.0, min(values) - 0.1), 1.0)
        axis.set_title(f"{name}\nfilled: chosen", fontsize=9)
        axis.grid(alpha=0.3, axis="y")
    figure.suptitle(f"{task}: settings chosen on validation", fontsize=11)
    figure.tight_layout()
    path = out / "sweep.png"
    save_figure(figure, path)
    return path
