"""Sequence classification beside the generative models: encoders (MiniLM, DistilBERT) and `lora-head`.

The same task records train a classifier head with the transformers Trainer:
    - encoder + full:      every weight trains (the seeds' DistilBERT-on-IMDB recipe);
    - encoder + lora:      PEFT TaskType.SEQ_CLS on the attention projections (q_lin/v_lin for DistilBERT,
                           query/value for BERT/MiniLM), the new head trainable;
    - causal LM + lora-head: AutoModelForSequenceClassification over SmolLM2/Gemma-3: a linear head on the
                           last token, LoRA on the body, the head trainable.
The input text is the record's `input` for encoders; causal LMs get the instruction before it.
"""
from __future__ import annotations

from pathlib import Path

from prompts.format import user_message
from sft.config import TrainConfig
from sft.errors import UserError
from sft.hardware import pick_precision, torch_dtype
from sft.models import ResolvedModel, load_tokenizer

# Attention projections that LoRA adapts per architecture when the config leaves the default.
LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "bert": ["query", "value"], "roberta": ["query", "value"],
                "xlm-roberta": ["query", "value"], "deberta-v2": ["query_proj", "value_proj"]}


def classifier_text(record: dict, kind: str) -> str:
    return record["input"] if kind == "encoder" else user_message(record["instruction"], record["input"])


def load_classifier(path: Path, labels: list[str], dtype=None):
    import torch
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        dtype=dtype or torch.float32, use_safetensors=True, trust_remote_code=False)


def build_classifier_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from sft.logging_callback import JsonlLogCallback
    from sft.train import lora_config, prepare_data, training_arguments

    if config.method == "qlora":
        raise UserError("method qlora is for generative models; use lora or full for a classifier")
    if model.kind == "encoder" and config.method == "lora-head":
        raise UserError(f"model '{config.model}' is an encoder: its head is the classifier; use method lora or full")
    if model.kind == "causal" and config.method != "lora-head":
        raise UserError(f"model '{config.model}' is generative; method {config.method} trains it with sft.train")
    train_records, val_records, labels = prepare_data(config)
    tokenizer = load_tokenizer(model)
    precision = pick_precision(config.precision)
    from transformers import set_seed

    set_seed(config.seed)  # the new head's random init is part of the run: same seed, same model
    # LoRA keeps a frozen base in the compute dtype; full fine-tuning keeps fp32 master weights.
    classifier = load_classifier(model.path, labels, torch_dtype(precision) if model.kind == "causal" else None)
    classifier.config.pad_token_id = tokenizer.pad_token_id
    label_ids = {label: i for i, label in enumerate(labels)}

    def to_dataset(records):
        encoded = tokenizer([classifier_text(r, model.kind) for r in records], truncation=True,
                            max_length=config.max_length)
        return Dataset.from_dict({**encoded, "labels": [label_ids[r["output"]] for r in records]})

    peft_config = None
    if config.method in ("lora", "lora-head"):
        targets = config.lora_target_modules
        if targets == "all-linear" and classifier.config.model_type in LORA_TARGETS:
            targets = LORA_TARGETS[classifier.config.model_type]
        peft_config = lora_config(config.__class__(**{**config.__dict__, "lora_target_modules": targets}),
                                  task_type="SEQ_CLS")
    if peft_config is not None:
        from peft import get_peft_model

        classifier = get_peft_model(classifier, peft_config)  # SEQ_CLS keeps the new head trainable

    def accuracy(eval_pred):
        logits, gold = eval_pred
        return {"accuracy": float((logits.argmax(-1) == gold).mean())}

    return Trainer(
        model=classifier,
        args=training_arguments(config, run_dir, precision, has_eval=bool(val_records), cls=TrainingArguments),
        train_dataset=to_dataset(train_records),
        eval_dataset=to_dataset(val_records) if val_records else None,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[JsonlLogCallback(run_dir / "train_log.jsonl")],
    )


def train_classifier(config: TrainConfig, model: ResolvedModel, run_dir: Path, resume_from: Path | None) -> dict:
    trainer = build_classifier_trainer(config, model, run_dir)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    weights_dir = run_dir / ("adapter" if config.method in ("lora", "lora-head") else "model")
    trainer.save_model(str(weights_dir))
    trainer.processing_class.save_pretrained(str(weights_dir))
    return {"precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
            "train_examples": len(trainer.train_dataset), "global_step": result.global_step,
            "train_loss": result.training_loss, "train_runtime_s": result.metrics.get("train_runtime"),
            "weights": weights_dir.name, "labels": list(trainer.model.config.id2label.values())}
