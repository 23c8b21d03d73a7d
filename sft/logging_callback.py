"""A Trainer callback that appends every log event (train loss, eval loss, learning rate) to JSONL."""
from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from sft.fileio import append_jsonl


class JsonlLogCallback(TrainerCallback):
    def __init__(self, path: Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            append_jsonl(self.path, {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **logs})
