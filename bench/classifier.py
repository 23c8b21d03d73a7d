"""Predictions of sequence classifiers (encoders and lora-head runs): argmax over the head.

    python -m bench.classifier results/runs/mushroom/minilm-l6-full --split test

A base encoder's head is untrained (random): scoring it is the honest "before" row.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from sft.errors import UserError, run_cli


def load_run_classifier(run_dir: Path):
    """(model, tokenizer, config dict) of a finished classifier run folder."""
    import torch
    from transformers import AutoTokenizer

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    if (run_dir / "model").is_dir():
        from transformers import AutoModelForSequenceClassification

        weights = run_dir / "model"
        model = AutoModelForSequenceClassification.from_pretrained(weights, use_safetensors=True)
    elif (run_dir / "adapter").is_dir():
        from peft import AutoPeftModelForSequenceClassification

        weights = run_dir / "adapter"
        model = AutoPeftModelForSequenceClassification.from_pretrained(weights, dtype=torch.float32)
    else:
        raise UserError(f"{run_dir}: no trained model/ or adapter/ folder; is the run finished?")
    tokenizer = AutoTokenizer.from_pretrained(weights)
    return model.eval(), tokenizer, config


def predict_proba(model, tokenizer, texts: list[str], batch_size: int = 32, max_length: int = 512):
    """Class probabilities, one row per text, in the model's label order (config.id2label)."""
    import torch

    from sft.hardware import pick_precision, torch_dtype

    precision = pick_precision()
    rows = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch_dtype(precision), enabled=precision == "bf16"):
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")
            rows.append(model(**batch).logits.float().softmax(-1))
    return torch.cat(rows).numpy()


def evaluate_run(run_dir: Path, split: str = "test") -> dict:
    from prompts.build import load_split
    from sft.config import task_slug
    from sft.train_classifier import classifier_text

    model, tokenizer, config = load_run_classifier(run_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    records = load_split(task_slug(config["task"], config.get("task_options") or {}), split)
    kind = "encoder" if model.config.model_type in ("bert", "distilbert", "roberta", "deberta-v2", "xlm-roberta") \
        else "causal"
    started = time.time()
    probs = predict_proba(model, tokenizer, [classifier_text(r, kind) for r in records],
                          max_length=config.get("max_length", 512))
    predicted = [labels[i] for i in probs.argmax(-1)]
    correct = sum(p == r["output"] for p, r in zip(predicted, records))
    return {"run": str(run_dir), "split": split, "examples": len(records), "accuracy": correct / len(records),
            "examples_per_s": len(records) / (time.time() - started), "predicted": predicted,
            "valid": all(p in labels for p in predicted)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classifier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, nargs="+", help="finished classifier run folder(s)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    for run_dir in args.run_dir:
        result = evaluate_run(run_dir, args.split)
        print(json.dumps({k: v for k, v in result.items() if k != "predicted"}))
    return 0


if __name__ == "__main__":
    run_cli(main)
