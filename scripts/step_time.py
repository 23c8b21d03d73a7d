"""Seconds per optimizer step of a training setting, against the default settings, in one process.

    python scripts/step_time.py "" lora_layers=8 lora_layers=15 "lora_target_modules=[q_proj,k_proj,v_proj,o_proj]"
    python scripts/step_time.py "" "lora_layers=8 trainer_args.torch_compile=true" --steps 6

Each argument is one setting: space-separated KEY=VALUE pairs over SmolLM2 LoRA on mushroom with the cpu-fast
preset ("" is that preset as it is), no evaluation or checkpoint. Prints one JSON line per setting: the
median seconds of the steps after the first two (the first ones warm up), the tokens a step and the CPU.
`sftbench speed` (make speed) compares the toolkit's own paths with the plain recipe; this compares settings.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.speed import step_timer
from sft.config import build_config, parse_overrides
from sft.models import resolve_model
from sft.train import build_sft_trainer
from sftbench_common.hardware import describe_cpu, pick_precision


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help='space-separated KEY=VALUE pairs; "" for the preset as is')
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    base = dict(task="mushroom", model="smollm2-135m-instruct", method="lora", preset="cpu-fast", eval_limit=0)
    base.update(max_steps=args.steps, save_steps=10_000, report_to="none", logging_steps=1)
    model = resolve_model(base["model"])
    for setting in args.settings:
        torch.manual_seed(0)
        config = build_config(({**base, **parse_overrides(setting.split())}, setting or "preset"))
        trainer = build_sft_trainer(config, model, Path(tempfile.mkdtemp(prefix="sftbench-steps-")))
        timer = step_timer()
        trainer.add_callback(timer)
        started = time.perf_counter()
        trainer.train()
        ends = [started, *timer.ends]
        seconds = [b - a for a, b in zip(ends, ends[1:])]
        tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
        print(
            json.dumps(
                {
                    "setting": setting,
                    "s_per_step": round(statistics.median(seconds[2:]), 2),
                    "steps_s": [round(s, 2) for s in seconds],
                    "tokens_per_step": round(tokens[-1] / len(tokens)),
                    "precision": pick_precision(config.precision),
                    "cpu": describe_cpu(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
