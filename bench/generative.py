"""Generative models answer a classification task in `score` mode: each label ranked by log-likelihood.

For every example the model sees the exact training prompt (prompts/format.py) followed by each label's
completion (the label and its end-of-turn token, as trained); the label whose tokens get the highest
total log-probability wins. Every answer is a valid label by construction.
"""
from __future__ import annotations

import time
from pathlib import Path

from prompts.format import has_chat_template, prompt_completion, prompt_text


def completion_texts(tokenizer, labels: list[str]) -> dict[str, str]:
    """The text that follows the prompt for each label, exactly as the training sequence renders it."""
    texts = {}
    for label in labels:
        record = {"instruction": "x", "input": "y", "output": label}
        if has_chat_template(tokenizer):
            pair = prompt_completion(record, tokenizer)
            full = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)
            texts[label] = full[len(prompt_text(record, tokenizer)):]
        else:
            texts[label] = label + tokenizer.eos_token
    return texts


def score_labels(model, tokenizer, records: list[dict], labels: list[str], batch_size: int = 8,
                 progress: bool = True) -> list[dict[str, float]]:
    """Per record, the summed log-probability of each label's completion after the prompt."""
    import torch
    from tqdm.auto import tqdm

    completions = {label: tokenizer(text, add_special_tokens=False)["input_ids"]
                   for label, text in completion_texts(tokenizer, labels).items()}
    device = next(model.parameters()).device
    results = []
    for start in tqdm(range(0, len(records), batch_size), desc="scoring", disable=not progress, unit="batch"):
        batch = records[start:start + batch_size]
        sequences, spans = [], []
        for record in batch:
            prompt_ids = tokenizer(prompt_text(record, tokenizer), add_special_tokens=not has_chat_template(tokenizer))["input_ids"]
            for label in labels:
                sequences.append(prompt_ids + completions[label])
                spans.append((len(prompt_ids), len(prompt_ids) + len(completions[label])))
        width = max(map(len, sequences))
        input_ids = torch.full((len(sequences), width), tokenizer.pad_token_id)
        attention = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        log_probs = logits.log_softmax(-1)
        for i, record in enumerate(batch):
            scores = {}
            for j, label in enumerate(labels):
                row = i * len(labels) + j
                begin, end = spans[row]
                targets = input_ids[row, begin:end].to(device)
                scores[label] = float(log_probs[row, begin - 1:end - 1].gather(-1, targets[:, None]).sum())
            results.append(scores)
    return results


def load_run_model(run_dir: Path):
    """The fine-tuned model of a generative run folder (adapter on its base, or full weights)."""
    import torch
    import yaml

    from sft.models import load_causal_lm, load_tokenizer, resolve_model

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    base = resolve_model(config["model"])
    tokenizer = load_tokenizer(base)
    if (run_dir / "adapter").is_dir():
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_causal_lm(base), run_dir / "adapter")
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(run_dir / "model", dtype=torch.float32, use_safetensors=True)
    return model.eval(), tokenizer, config


def accuracy_of_run(run_dir: Path, split: str = "test", limit: int | None = None) -> dict:
    import torch

    from prompts.build import load_meta, load_split
    from sft.config import task_slug
    from sft.hardware import pick_precision

    model, tokenizer, config = load_run_model(run_dir)
    slug = task_slug(config["task"], config.get("task_options") or {})
    labels = load_meta(slug)["labels"]
    records = load_split(slug, split)[:limit]
    started = time.time()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=pick_precision() == "bf16"):
        scores = score_labels(model, tokenizer, records, labels)
    predicted = [max(s, key=s.get) for s in scores]
    return {"accuracy": sum(p == r["output"] for p, r in zip(predicted, records)) / len(records),
            "examples": len(records), "examples_per_s": len(records) / (time.time() - started)}
