"""A Trainer callback that appends every log event (train loss, eval loss, learning rate) to JSONL."""

from __future__ import annotations

from pathlib import Path

from sftbench_common.fileio import append_jsonl


def jsonl_log_callback(path: Path):
    """The callback for `path`; built on call because importing transformers' callback module takes 10 s."""
    from transformers import TrainerCallback

    class JsonlLogCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                append_jsonl(path, {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **logs})

    return JsonlLogCallback()
