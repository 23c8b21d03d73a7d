"""Generative models answering a classification task, in the two modes the benchmark reports.

`score`: every label ranked by the model's log-likelihood of its completion after the exact training
prompt: sft/label_scoring.py, the same code a fine-tuning run reports its label accuracy with.

`generate`: greedy decoding of a few tokens (batched, the shared prefix run once), then `parse_label`;
an answer that names no label, or several, is invalid.

torch, transformers and peft load inside the functions that run a model: seconds to import, and the
command-line tools that import this module must answer --help at once.
"""

from __future__ import annotations

import re
from pathlib import Path

from sft.export import merge_adapter
from sft.label_scoring import greedy_from_cache, prompt_batches
from sft.models import load_causal_lm, load_tokenizer, resolve_model
from sftbench_common import processes
from sftbench_common.errors import UserError
from sftbench_common.hardware import pick_precision, torch_dtype

INVALID = "<invalid>"


def parse_label(text: str, labels: list[str]) -> str:
    """The label a free-text answer gives: the one it starts with, else the only one it names, else invalid."""
    answer = text.strip().lower()
    lowered = {label.lower(): label for label in labels}
    for name in sorted(lowered, key=len, reverse=True):
        if re.match(rf"\W*{re.escape(name)}\b", answer):
            return lowered[name]
    named = {name for name in lowered if re.search(rf"\b{re.escape(name)}\b", answer)}
    return lowered[named.pop()] if len(named) == 1 else INVALID


def generate_answers(
    model,
    tokenizer,
    records: list[dict],
    labels: list[str],
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    progress: bool = True,
    demonstrations: list[dict] = (),
    spread: bool = False,
) -> list[str]:
    """Greedy answers (decoded text) for each record, batched, the shared prompt prefix (with the in-context
    `demonstrations`, if any) run once; with `spread`, every N-th batch on each of N processes, gathered."""
    if max_new_tokens is None:
        max_new_tokens = max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels) + 6
    answers: dict[int, str] = {}
    for batch, input_ids, attention, _, cache, prefix, _ in prompt_batches(
        model, tokenizer, records, batch_size, "generate", progress, demonstrations, spread
    ):
        texts = greedy_from_cache(model, tokenizer, input_ids, attention, cache, prefix, max_new_tokens)
        answers.update(zip(batch, texts))
    if spread:
        answers = processes.gather_by_index(answers, input_ids.device.type == "cpu")
    return [answers[i] for i in range(len(records))]


def load_for_inference(model_name: str, run_dir: Path | None = None, dtype=None):
    """(model, tokenizer): the base model, or a run's fine-tuned one with its LoRA merged, ready to score."""
    import torch

    resolved = resolve_model(model_name)
    tokenizer = load_tokenizer(resolved)
    if run_dir is None:
        model = load_causal_lm(resolved)
    elif (run_dir / "adapter").is_dir():
        # Merged into full-precision weights (a QLoRA adapter too), then cast: one plain model to run, as
        # `sftbench export --merge` saves it.
        model = merge_adapter(resolved, run_dir / "adapter")
    elif (run_dir / "model").is_dir():
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(run_dir / "model", dtype=torch.float32, use_safetensors=True)
    else:
        raise UserError(f"{run_dir}: no adapter/ or model/ folder; is the run finished?")
    if dtype is not None:
        model = model.to(dtype)
    # PEFT leaves the merged weights frozen. For a frozen weight, torch's matmul of a 3-D activation by the
    # (tied, vocabulary-sized) LM head expands the weight per batch row and calls bmm instead of one mm:
    # measured 7x slower scoring on Gemma-3. Under inference_mode the flag builds no graph either way.
    model.requires_grad_(True)
    return model.eval(), tokenizer


class ModelCache:
    """The last generative model loaded for inference, kept across the rows that use it (score, generate)."""

    def __init__(self, device: str):
        self.device, self.key, self.loaded = device, None, None

    def get(self, model_name: str, run_dir: Path | None):
        """(model, tokenizer) in this machine's inference precision, on the device."""
        if self.key != (model_name, run_dir):
            self.loaded = None  # free the previous model before loading the next
            model, tokenizer = load_for_inference(
                model_name, run_dir, dtype=torch_dtype(pick_precision(device=self.device))
            )
            self.key, self.loaded = (model_name, run_dir), (model.to(self.device), tokenizer)
        return self.loaded
