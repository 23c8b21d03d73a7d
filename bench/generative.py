"""Generative models answering a classification task, in the two modes the benchmark reports.

`score`: every label ranked by the model's log-likelihood of its completion (the label and the end-of-turn
token, exactly as trained) after the exact training prompt (prompts/format.py). The text all prompts
share runs once, each prompt's own text once; that KV cache is then shared by all the candidate labels,
and logits are computed only where a label token is scored. Every answer is a valid label by construction.

`generate`: greedy decoding of a few tokens (batched, the shared prefix run once), then `parse_label`;
an answer that names no label, or several, is invalid.

torch, transformers and peft load inside the functions that run a model: seconds to import, and the
command-line tools that import this module must answer --help at once.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from tqdm.auto import tqdm

from common.errors import UserError
from common.hardware import pick_precision, torch_dtype
from prompts.format import has_chat_template, prompt_completion, prompt_text
from sft.models import load_causal_lm, load_tokenizer, resolve_model

INVALID = "<invalid>"


def completion_texts(tokenizer, labels: list[str]) -> dict[str, str]:
    """The text that follows the prompt for each label, exactly as the training sequence renders it."""
    texts = {}
    for label in labels:
        record = {"instruction": "x", "input": "y", "output": label}
        if has_chat_template(tokenizer):
            pair = prompt_completion(record, tokenizer)
            full = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)
            texts[label] = full[len(prompt_text(record, tokenizer)) :]
        else:
            texts[label] = label + tokenizer.eos_token
    return texts


def prompt_ids(tokenizer, records: list[dict]) -> list[list[int]]:
    # Chat-templated prompts carry their own special tokens; plain ones get BOS as in training.
    add_special = not has_chat_template(tokenizer)
    return [tokenizer(prompt_text(r, tokenizer), add_special_tokens=add_special)["input_ids"] for r in records]


def left_pad(sequences: list[list[int]], pad_id: int):
    """(input_ids, attention_mask, position_ids) with padding on the left, positions counting real tokens."""
    import torch

    width = max(map(len, sequences))
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention[row, width - len(ids) :] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, positions


def shared_prefix_length(sequences: list[list[int]]) -> int:
    """Leading tokens every sequence has in common, leaving each at least its last token to run."""
    first, shortest = sequences[0], min(map(len, sequences))
    length = 0
    while length < shortest - 1 and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def prompt_batches(model, tokenizer, records: list[dict], batch_size: int, desc: str, progress: bool):
    """The records' prompts in batches, the text they all share run through the model once.

    Yields (indices, input_ids, attention, positions, cache, prefix): the batch's records (in order of
    prompt length, so that a batch holds little padding), their left-padded own tokens with position ids,
    a mask over the shared prefix and the tokens, a KV cache holding the shared prefix for every row (None
    when the prompts share nothing) and the prefix's token ids. The padding sits between prefix and own
    tokens; the mask hides it.
    """
    import torch

    device = next(model.parameters()).device
    prompts = prompt_ids(tokenizer, records)
    shared = shared_prefix_length(prompts) if prompts else 0
    prefix_cache = None
    if shared:
        with torch.inference_mode():
            prefix_cache = model(
                input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True, logits_to_keep=1
            ).past_key_values
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, unit="batch", leave=False):
        batch = order[start : start + batch_size]
        input_ids, attention, positions = (
            t.to(device) for t in left_pad([prompts[i][shared:] for i in batch], tokenizer.pad_token_id)
        )
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(batch))
            attention = torch.cat([attention.new_ones((len(batch), shared)), attention], dim=1)
        yield batch, input_ids, attention, positions + shared, cache, prompts[0][:shared]


def score_labels(
    model, tokenizer, records: list[dict], labels: list[str], batch_size: int = 16, progress: bool = True
) -> list[dict[str, float]]:
    """Per record, the summed log-probability of each label's completion after the prompt.

    The prompt text all records share (chat template, system prompt, instruction: a third of a mushroom
    prompt) runs once for the set, each record's own text once; every label's tokens then reuse that cache,
    with logits only where a label token is scored.
    """
    import torch

    completions = [
        tokenizer(text, add_special_tokens=False)["input_ids"] for text in completion_texts(tokenizer, labels).values()
    ]
    n_labels, width = len(labels), max(map(len, completions))
    label_ids = torch.full((n_labels, width), tokenizer.pad_token_id, dtype=torch.long)
    label_mask = torch.zeros((n_labels, width), dtype=torch.long)
    for row, ids in enumerate(completions):
        label_ids[row, : len(ids)] = torch.tensor(ids)
        label_mask[row, : len(ids)] = 1
    device = next(model.parameters()).device
    results: list[dict[str, float] | None] = [None] * len(records)
    for batch, input_ids, attention, positions, cache, _ in prompt_batches(
        model, tokenizer, records, batch_size, "score", progress
    ):
        with torch.inference_mode():
            out = model(
                input_ids=input_ids,
                attention_mask=attention,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            first = out.logits[:, -1].float().log_softmax(-1)  # (B, vocab)
            scores = first[:, label_ids[:, 0].to(device)]  # (B, labels)
            if width > 1:
                # The rest of each label's tokens, every label against the same cached prompt.
                cache = out.past_key_values
                cache.batch_repeat_interleave(n_labels)
                follow_ids = label_ids.repeat(len(batch), 1).to(device)
                follow_mask = torch.cat(
                    [attention.repeat_interleave(n_labels, 0), label_mask.repeat(len(batch), 1).to(device)], dim=1
                )
                follow_pos = positions[:, -1:].repeat_interleave(n_labels, 0) + 1 + torch.arange(width, device=device)
                logits = (
                    model(
                        input_ids=follow_ids,
                        attention_mask=follow_mask,
                        position_ids=follow_pos,
                        past_key_values=cache,
                        use_cache=False,
                    )
                    .logits[:, :-1]
                    .float()
                )
                token_lp = logits.log_softmax(-1).gather(-1, follow_ids[:, 1:, None])[..., 0]  # (rows, width-1)
                token_lp = token_lp * label_mask[:, 1:].repeat(len(batch), 1).to(device)
                scores = scores + token_lp.sum(-1).view(len(batch), n_labels)
        for index, row in zip(batch, scores.cpu()):
            results[index] = {label: float(s) for label, s in zip(labels, row)}
    return results


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
) -> list[str]:
    """Greedy answers (decoded text) for each record, batched, the shared prompt prefix run once."""
    import torch

    if max_new_tokens is None:
        max_new_tokens = max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels) + 6
    answers: list[str | None] = [None] * len(records)
    for batch, input_ids, attention, _, cache, prefix in prompt_batches(
        model, tokenizer, records, batch_size, "generate", progress
    ):
        # generate() takes the whole prompt and runs only what the cache does not hold; it derives
        # position ids from the mask, which counts only real tokens.
        prefix_ids = torch.tensor([prefix], dtype=input_ids.dtype, device=input_ids.device)
        input_ids = torch.cat([prefix_ids.expand(len(batch), -1), input_ids], dim=1)
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                past_key_values=cache,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                top_p=None,
                top_k=None,
                temperature=None,
            )
        for index, text in zip(
            batch, tokenizer.batch_decode(output[:, input_ids.shape[1] :], skip_special_tokens=True)
        ):
            answers[index] = text
    return answers


def load_for_inference(model_name: str, run_dir: Path | None = None, dtype=None):
    """(model, tokenizer): the base model, or a run's fine-tuned one with its LoRA merged, ready to score."""
    import torch

    resolved = resolve_model(model_name)
    tokenizer = load_tokenizer(resolved)
    if run_dir is None:
        model = load_causal_lm(resolved)
    elif (run_dir / "adapter").is_dir():
        from peft import PeftModel  # heavy (6 s): only fine-tuned rows need it

        # Merged into full-precision weights (a QLoRA adapter too), then cast: one plain model to run.
        model = PeftModel.from_pretrained(load_causal_lm(resolved), run_dir / "adapter").merge_and_unload()
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
