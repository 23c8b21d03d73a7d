"""Train one SmolLM2 LoRA variant of the cpu-fast preset and score it on val (which chooses) and test.

    python scripts/setting_on_val.py NAME [KEY=VALUE ...]
    python scripts/setting_on_val.py top8-lr2e-3 lora_layers=8 lr=2e-3 eval_limit=0
    python scripts/setting_on_val.py tweets-all task=tweets eval_limit=0
    SCORE_ONLY=results/runs/tweets/smollm2-135m-instruct-lora python scripts/setting_on_val.py committed task=tweets

KEY=VALUE are TrainConfig settings (default: mushroom, 384 train records, the cpu-fast preset). The run goes to
/tmp/sftbench-settings/NAME and is trained from scratch; SCORE_ONLY=RUN_DIR scores a finished run instead.
Prints one JSON line: the run's training seconds, score-mode accuracy on the first --val (160) val records and
on the first 160 test records with its Wilson interval, and each record's right/wrong (for paired tests).
Choose on the val accuracy; the test accuracy is what the chosen setting is reported with
(docs/experiment-log.md, 2026-12-02 third session).
"""

import json
import os
import sys
from pathlib import Path

from bench.generative import load_for_inference
from bench.statistics import wilson_interval
from prompts.build import load_meta, load_split
from sft import run_folders
from sft.config import build_config, parse_overrides
from sft.label_scoring import best_labels, score_labels
from sft.train import train

VAL, TEST = 160, 160


def right_or_wrong(model, tokenizer, records: list[dict], labels: list[str]) -> str:
    predicted = best_labels(score_labels(model, tokenizer, records, labels, progress=False))
    return "".join("1" if p == r["output"] else "0" for p, r in zip(predicted, records))


def main(argv: list[str]) -> None:
    import torch

    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    name, overrides = argv[0], parse_overrides(argv[1:])
    values = {"task": "mushroom", "model": "smollm2-135m-instruct", "method": "lora", "preset": "cpu-fast"}
    values.update(train_limit=384, report_to="none", output_dir=f"/tmp/sftbench-settings/{name}", **overrides)
    config = build_config((values, "setting_on_val"))
    run_dir = Path(os.environ["SCORE_ONLY"]) if os.environ.get("SCORE_ONLY") else train(config, force=True)
    model, tokenizer = load_for_inference(config.model, run_dir, dtype=torch.float32)
    labels = load_meta(config.task)["labels"]
    val = right_or_wrong(model, tokenizer, load_split(config.task, "val")[:VAL], labels)
    test = right_or_wrong(model, tokenizer, load_split(config.task, "test")[:TEST], labels)
    print(
        json.dumps(
            {
                "name": name,
                **{k: str(v) for k, v in overrides.items()},
                "train_s": run_folders.read_run(run_dir).get("wall_time_s"),
                f"val_accuracy_first_{VAL}": val.count("1") / len(val),
                f"test_accuracy_first_{TEST}": test.count("1") / len(test),
                "test_interval": wilson_interval(test.count("1"), len(test)),
                "val_right": val,
                "test_right": test,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
