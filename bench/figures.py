"""The report's figures: confusion heatmaps (base vs fine-tuned, side by side) and loss curves per task.

matplotlib and seaborn load inside the functions (2 s to import; `bench.run --help` imports this module).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from common.fileio import atomic_write_bytes, read_jsonl
from common.paths import results_dir
from sft import run_folders


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


def confusion_figures(task: str, rows: list[dict], out: Path) -> list[Path]:
    """Per model, the base and fine-tuned confusion matrices side by side (score mode, or the head)."""
    import seaborn as sns

    plt = _pyplot()
    panels: dict[str, list[dict]] = {}
    for row in rows:
        if row["mode"] in ("score", "head"):
            panels.setdefault(row["model"], []).append(row)
        elif row["state"] == "baseline":
            panels.setdefault("baselines", []).append(row)
    written = []
    for model, model_rows in panels.items():
        labels = model_rows[0]["labels"]
        figure, axes = plt.subplots(
            1, len(model_rows), figsize=(3.2 + 2.9 * len(model_rows), 3.4 + 0.15 * len(labels)), squeeze=False
        )
        for axis, row in zip(axes[0], model_rows):
            matrix = np.array(row["metrics"]["confusion"])
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
            title = (
                row["model"]
                if row["state"] == "baseline"
                else f"{row['state']}" + (f" ({row['method']})" if row["method"] else "")
            )
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
    """Train (lines) and eval (dashed, dots) loss per epoch of every finished run of the task and, where runs
    logged it, a second panel with the label accuracy on the val records at each evaluation."""
    plt = _pyplot()
    run_dirs = sorted(p for p in (results_dir() / "runs" / task).glob("*") if run_folders.is_finished(p))
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
