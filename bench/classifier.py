"""Predictions of sequence classifiers (encoders and lora-head runs): argmax over the head.

    sftbench evaluate results/runs/mushroom/minilm-l6-full --split test

A base encoder's head is untrained (random): scoring it is the honest "before" row.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml

from prompts.build import build_task, load_split
from prompts.tasks import get_task, task_slug
from sft import run_folders
from sft.models import load_classifier, resolve_model
from sft.train_classifier import classifier_text
from sftbench_common import processes
from sftbench_common.errors import UserError, moved_to
from sftbench_common.hardware import pick_precision, torch_dtype

BASE_HEAD_SEED = 42  # a base encoder's untrained head: seeded, so its row is reproducible
BASE_MAX_LENGTH = 256


def load_run_classifier(run_dir: Path):
    """(model, tokenizer, config dict) of a finished classifier run folder."""
    from peft import PeftModel  # transformers and peft: seconds to import, loaded only when a model runs
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    if (run_dir / "model").is_dir():
        weights = run_dir / "model"
        model = AutoModelForSequenceClassification.from_pretrained(weights, use_safetensors=True)
    elif (run_dir / "adapter").is_dir():
        weights = run_dir / "adapter"
        # The base from this machine's copy (adapter_config.json names it by Hub id, for other machines),
        # with a head over the run's labels that the adapter's saved head weights then fill.
        base = load_classifier(resolve_model(config["model"]).path, run_folders.read_run(run_dir)["labels"])
        model = PeftModel.from_pretrained(base, weights)
    else:
        raise UserError(f"{run_dir}: no trained model/ or adapter/ folder; is the run finished?")
    tokenizer = AutoTokenizer.from_pretrained(weights)
    return model.eval(), tokenizer, config


def load_head_model(model_name: str, run_dir: Path | None, labels: list[str], device: str):
    """(model, tokenizer, max_length) of a classifier row; a base encoder gets a seeded, untrained head."""
    import torch
    from transformers import AutoTokenizer

    if run_dir is None:
        torch.manual_seed(BASE_HEAD_SEED)
        resolved = resolve_model(model_name)
        return (
            load_classifier(resolved.path, labels).eval().to(device),
            AutoTokenizer.from_pretrained(resolved.path),
            BASE_MAX_LENGTH,
        )
    model, tokenizer, config = load_run_classifier(run_dir)
    return model.to(device), tokenizer, config.get("max_length", BASE_MAX_LENGTH)


def predict_proba(model, tokenizer, texts: list[str], batch_size: int = 32, max_length: int = 512, spread=False):
    """Class probabilities, one row per text, in the model's label order (config.id2label); with `spread`, every
    N-th batch on each of N processes, whole, gathered on every process."""
    import torch

    device = next(model.parameters()).device
    precision = pick_precision(device=device.type)
    found = {}
    starts = list(range(0, len(texts), batch_size))
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch_dtype(precision), enabled=precision == "bf16"):
        for start in processes.own_batches(starts) if spread else starts:
            batch = tokenizer(
                texts[start : start + batch_size],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            found[start] = model(**batch).logits.float().softmax(-1).cpu().numpy()
    if spread:
        found = processes.gather_by_index(found, device.type == "cpu")
    return np.concatenate([found[start] for start in starts])


def predict_labels(
    model, tokenizer, max_length: int, kind: str, records: list[dict], batch_size: int, spread: bool = False
):
    """(predicted labels, per-label probabilities) of a classifier over `records`."""
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    texts = [classifier_text(r, kind) for r in records]
    probs = predict_proba(model, tokenizer, texts, batch_size=batch_size, max_length=max_length, spread=spread)
    scores = [{label: float(p) for label, p in zip(model_labels, row_probs)} for row_probs in probs]
    return [max(s, key=s.get) for s in scores], scores


def evaluate_run(run_dir: Path, split: str = "test", limit: int | None = None) -> dict:
    """Accuracy of a finished classifier run on the first `limit` records of a split (None: all of them)."""
    model, tokenizer, config = load_run_classifier(run_dir)
    task_options = config.get("task_options") or {}
    build_task(get_task(config["task"], **task_options))  # the split is built (and checked) as for training
    records = load_split(task_slug(config["task"], task_options), split)[:limit]
    kind = resolve_model(config["model"]).kind
    started = time.time()
    predicted, _ = predict_labels(model, tokenizer, config.get("max_length", 512), kind, records, batch_size=32)
    labels = list(model.config.id2label.values())
    correct = sum(p == r["output"] for p, r in zip(predicted, records))
    return {
        "run": str(run_dir),
        "split": split,
        "examples": len(records),
        "accuracy": correct / len(records),
        "examples_per_s": len(records) / (time.time() - started),
        "predicted": predicted,
        "valid": all(p in labels for p in predicted),
    }


if __name__ == "__main__":
    moved_to("sftbench evaluate")
