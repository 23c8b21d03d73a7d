"""Sequence classification beside the generative models: encoders (MiniLM, DistilBERT) and `lora-head`.

The same task records train a classifier head with the transformers Trainer:
    - encoder + full:      every weight trains (the seeds' DistilBERT-on-IMDB recipe);
    - encoder + lora:      PEFT TaskType.SEQ_CLS on the attention projections (q_lin/v_lin for DistilBERT,
                           query/value for BERT/MiniLM), the new head trainable;
    - causal LM + lora-head: AutoModelForSequenceClassification over SmolLM2/Gemma-3: a linear head on the
                           last token, LoRA on the body, the head trainable.
The input text is the record's `input` for encoders; causal LMs get the instruction before it.

datasets, transformers and peft load inside the functions: 6-8 s to import, and --help must not wait.
"""

from __future__ import annotations

from pathlib import Path

from prompts.format import user_message
from sft.config import TrainConfig
from sft.data import prepare_data
from sft.label_scoring import label_metrics
from sft.logging_callback import jsonl_log_callback
from sft.models import ResolvedModel, load_classifier, load_tokenizer
from sft.trainer_args import lora_config, tensorboard_logs_in, training_arguments
from sftbench_common.hardware import pick_precision, torch_dtype

# Attention projections that LoRA adapts per architecture when the config leaves the default.
LORA_TARGETS = {
    "distilbert": ["q_lin", "v_lin"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "deberta-v2": ["query_proj", "value_proj"],
}


def classifier_text(record: dict, kind: str) -> str:
    return record["input"] if kind == "encoder" else user_message(record["instruction"], record["input"])


def build_classifier_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    train_records, val_records, labels = prepare_data(config)
    tokenizer = load_tokenizer(model)
    precision = pick_precision(config.precision)
    set_seed(config.seed)  # the new head's random init is part of the run: same seed, same model
    # LoRA keeps a frozen base in the compute dtype; full fine-tuning keeps fp32 master weights.
    classifier = load_classifier(model.path, labels, torch_dtype(precision) if model.kind == "causal" else None)
    classifier.config.pad_token_id = tokenizer.pad_token_id
    label_ids = {label: i for i, label in enumerate(labels)}

    def to_dataset(records):
        encoded = tokenizer(
            [classifier_text(r, model.kind) for r in records], truncation=True, max_length=config.max_length
        )
        return Dataset.from_dict({**encoded, "labels": [label_ids[r["output"]] for r in records]})

    if config.method in ("lora", "lora-head"):
        targets = config.lora_target_modules
        if targets == "all-linear" and classifier.config.model_type in LORA_TARGETS:
            targets = LORA_TARGETS[classifier.config.model_type]
        classifier = get_peft_model(
            classifier, lora_config(config, "SEQ_CLS", targets, model=classifier)
        )  # SEQ_CLS: head trains

    def head_label_metrics(eval_pred):
        """The names generative runs log (sft/label_scoring.py), so metric_for_best_model reads the same."""
        logits, gold = eval_pred
        return label_metrics([labels[i] for i in logits.argmax(-1)], [labels[i] for i in gold], labels)

    with tensorboard_logs_in(run_dir):
        return Trainer(
            model=classifier,
            args=training_arguments(config, run_dir, precision, has_eval=bool(val_records), sft=False),
            train_dataset=to_dataset(train_records),
            eval_dataset=to_dataset(val_records) if val_records else None,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=head_label_metrics,
            callbacks=[jsonl_log_callback(run_dir / "train_log.jsonl")],
        )
