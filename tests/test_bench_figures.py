"""Which rows the figures draw: of a learning curve (one group per size) only its largest size, each seed."""

from bench.figures import confusion_panels


def curve_row(size: int, seed: int, **extra) -> dict:
    group = f"smollm2-lora-n{size}"
    return {"model": "smollm2", "method": "lora", "state": "fine-tuned", "mode": "score", "group": group,
            "train_size": size, "seed": seed, **extra}  # fmt: skip


def test_confusion_panels_draw_a_learning_curve_at_its_largest_size_only():
    rows = [curve_row(n, s) for n in (64, 256) for s in (1, 2)] + [curve_row(6498, 1)]
    rows += [{"model": "smollm2", "method": "", "state": "base", "mode": "score", "group": "base"}]
    rows += [{"model": "tree", "method": "", "state": "baseline", "mode": "baseline", "group": "tree"}]
    rows += [{**curve_row(6498, 1), "model": "minilm", "method": "full", "mode": "head"}]
    panels = confusion_panels(rows)
    assert [(r["state"], r.get("train_size")) for r in panels["smollm2"]] == [("fine-tuned", 6498), ("base", None)]
    assert [r["train_size"] for r in panels["minilm"]] == [6498] and len(panels["baselines"]) == 1
