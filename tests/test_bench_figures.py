"""Which rows the figures draw: of a learning curve (one group per size) only its largest size, each seed."""

import dataclasses

from bench.figures import confusion_panels
from bench.row_file import BenchRow


def curve_row(size: int, seed: int, **extra) -> BenchRow:
    return BenchRow("mushroom", "smollm2", "fine-tuned", "lora", "score", group=f"smollm2-lora-n{size}",
                    train_size=size, seed=seed, **extra)  # fmt: skip


def test_confusion_panels_draw_a_learning_curve_at_its_largest_size_only():
    rows = [curve_row(n, s) for n in (64, 256) for s in (1, 2)] + [curve_row(6498, 1)]
    rows += [BenchRow("mushroom", "smollm2", "base", "", "score", group="base")]
    rows += [BenchRow("mushroom", "tree", "baseline", "", "baseline", group="tree")]
    rows += [dataclasses.replace(curve_row(6498, 1), model="minilm", method="full", mode="head")]
    panels = confusion_panels(rows)
    assert [(r.state, r.train_size) for r in panels["smollm2"]] == [("fine-tuned", 6498), ("base", None)]
    assert [r.train_size for r in panels["minilm"]] == [6498] and len(panels["baselines"]) == 1
