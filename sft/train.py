"""Fine-tune a model on a task's Alpaca records: the training recipe, top to bottom.

    python -m sft.train task=mushroom model=smollm2-135m-instruct method=lora preset=cpu-fast
    python -m sft.train --config configs/examples/tweets-qlora.yaml lr=1e-4 epochs=2
    accelerate launch --config_file accelerate_config.yaml -m sft.train --config ...

Generative models train with TRL's SFTTrainer on prompt/completion pairs, so the loss covers only the
answer (the label and EOS); on a domain corpus (task=django-docs, domain:PATH) they train on blocks of
`max_length` tokens with the loss on every token. Encoder models, and method=lora-head, go to sft/train_classifier.py.
Settings and their defaults are all in sft/config.py (TrainConfig); presets live in configs/presets/.
An interrupted run resumes from its last checkpoint when run again; a finished run is skipped unless
--force. Every run writes one folder under results/runs/ (see sft/runs.py).
"""
from __future__ import annotations

import argparse
import gc
import shutil
import sys
import time
from pathlib import Path

from prompts.build import build_task, load_split
from prompts.domain import blocks, is_domain
from prompts.format import input_token_budget, prompt_completion, shorten_input
from prompts.paths import results_dir
from prompts.sampling import select_train_records
from prompts.tasks import get_task
from sft import runs
from sft.config import TrainConfig, build_config, parse_overrides, read_yaml, task_slug, to_yaml
from sft.errors import UserError, run_cli
from sft.hardware import describe_hardware, device_name, pick_precision, torch_dtype
from sft.models import ResolvedModel, load_causal_lm, load_tokenizer, resolve_model
from sft.speedups import score_only_supervised_positions_on_cpu


def prepare_data(config: TrainConfig) -> tuple[list[dict], list[dict], list[str]]:
    """Train and val records of the task (built first if needed) and its label set."""
    task = get_task(config.task, **config.task_options)
    meta = build_task(task)
    slug = task_slug(config.task, config.task_options)
    train_records = select_train_records(load_split(slug, "train"), config.train_limit, config.train_sampling, config.seed)
    val_records = load_split(slug, "val")[: config.eval_limit]
    return train_records, val_records, meta["labels"]


def lora_config(config: TrainConfig, task_type: str = "CAUSAL_LM", modules_to_save=None):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type=task_type, modules_to_save=modules_to_save)


def load_generative_model(model: ResolvedModel, config: TrainConfig, precision: str):
    quantization = None
    if config.method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = torch_dtype("fp32" if precision == "fp32" else precision)
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                          bnb_4bit_compute_dtype=compute, bnb_4bit_quant_storage=compute)
    # A frozen LoRA base is held in the compute dtype (no per-step casts of fp32 weights under autocast);
    # PEFT keeps the adapters themselves in fp32. Full fine-tuning keeps fp32 master weights.
    base_dtype = torch_dtype(precision) if config.method == "lora" else None
    lm = load_causal_lm(model, dtype=base_dtype, quantization_config=quantization,
                        device_map={"": 0} if quantization is not None and device_name() == "cuda" else None)
    if config.method == "qlora":
        from peft import prepare_model_for_kbit_training

        lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=config.gradient_checkpointing)
    return lm


def training_arguments(config: TrainConfig, run_dir: Path, precision: str, has_eval: bool, cls=None):
    """SFTConfig (or TrainingArguments for classifiers) with every setting chosen here, not by library defaults."""
    if cls is None:
        from trl import SFTConfig as cls
    extra = {"max_length": config.max_length, "completion_only_loss": True, "padding_free": config.padding_free,
             "dataset_num_proc": None} if cls.__name__ == "SFTConfig" else {}
    eval_strategy = "no" if not has_eval else ("steps" if config.eval_steps else "epoch")
    return cls(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        optim=config.optim,
        max_grad_norm=config.max_grad_norm,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=config.gradient_checkpointing,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device_name() == "cpu",
        dataloader_num_workers=config.dataloader_workers,
        report_to="none",
        **extra,
    )


def build_sft_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    """TRL's SFTTrainer over the task's prompt/completion pairs, every setting taken from `config`."""
    from datasets import Dataset

    train_records, val_records, labels = prepare_data(config)
    tokenizer = load_tokenizer(model)
    budget = input_token_budget(tokenizer, train_records[0]["instruction"], labels, config.max_length)

    def to_dataset(records):
        return Dataset.from_list([prompt_completion(shorten_input(r, tokenizer, budget), tokenizer) for r in records])

    if config.compact_lm_head:
        score_only_supervised_positions_on_cpu()
    return sft_trainer(config, model, run_dir, tokenizer, to_dataset(train_records),
                       to_dataset(val_records) if val_records else None)


def sft_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path, tokenizer, train_dataset, eval_dataset):
    """TRL's SFTTrainer with the model, precision, LoRA and JSONL loss log that `config` asks for."""
    from trl import SFTTrainer

    from sft.logging_callback import JsonlLogCallback

    precision = pick_precision(config.precision)
    return SFTTrainer(
        model=load_generative_model(model, config, precision),
        args=training_arguments(config, run_dir, precision, has_eval=eval_dataset is not None),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config) if config.method in ("lora", "qlora") else None,
        callbacks=[JsonlLogCallback(run_dir / "train_log.jsonl")],
    )


def build_lm_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    """Plain language modelling on a domain corpus: fixed blocks of `max_length` tokens, loss on every token."""
    from datasets import Dataset

    slug = task_slug(config.task, config.task_options)
    tokenizer = load_tokenizer(model)

    def block_dataset(split: str, limit: int | None):
        return Dataset.from_dict({"input_ids": blocks([r["text"] for r in load_split(slug, split)], tokenizer,
                                                      config.max_length, limit)})

    train_blocks, val_blocks = block_dataset("train", config.train_limit), block_dataset("val", config.eval_limit)
    if len(train_blocks) == 0:
        raise UserError(f"task '{slug}': the train split is shorter than one block of {config.max_length} tokens")
    # Pre-tokenized input_ids: TRL skips formatting, and with no completion mask the loss covers every token.
    return sft_trainer(config, model, run_dir, tokenizer, train_blocks, val_blocks if len(val_blocks) else None)


def train_generative(config: TrainConfig, model: ResolvedModel, run_dir: Path, resume_from: Path | None) -> dict:
    trainer = (build_lm_trainer if is_domain(config.task) else build_sft_trainer)(config, model, run_dir)
    tokenizer = trainer.processing_class
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    weights_dir = run_dir / ("adapter" if config.method in ("lora", "qlora") else "model")
    trainer.save_model(str(weights_dir))
    tokenizer.save_pretrained(str(weights_dir))
    if config.merge and config.method == "lora":
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(run_dir / "merged"), safe_serialization=True)
        tokenizer.save_pretrained(str(run_dir / "merged"))
    return {"precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
            "train_examples": len(trainer.train_dataset), "global_step": result.global_step,
            "train_loss": result.training_loss, "train_runtime_s": result.metrics.get("train_runtime"),
            "weights": weights_dir.name}


def train(config: TrainConfig, force: bool = False, resume: bool = False) -> Path:
    """Train one run (or skip it if finished); returns its run folder."""
    run_dir = config.run_dir(results_dir())
    config_yaml = to_yaml(config)
    # Bad input fails here, before a model loads or anything is written under results/.
    build_task(get_task(config.task, **config.task_options))
    model = resolve_model(config.model)
    state = runs.state(run_dir, config_yaml)
    if state == "finished" and not runs.has_weights(run_dir):
        print(f"{run_dir}: finished, but its weights are not here (git keeps only the run's record); training it again")
        force = True
    elif state == "finished" and not force:
        print(f"already finished: {run_dir} (use --force to train again)")
        return run_dir
    if state == "changed":
        print(f"{run_dir}: finished with a different config.yaml; training it again with the new one")
        force = True
    checkpoint = runs.last_checkpoint(run_dir)
    if force and run_dir.exists():
        shutil.rmtree(run_dir)
        checkpoint = None
    elif checkpoint is not None:
        previous = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else None
        if previous is not None and previous != config_yaml:
            raise UserError(f"{run_dir}: an interrupted run with a different config is there; "
                            f"use --force to discard it and start over")
        step = int(checkpoint.name.split("-")[-1])
        runs.trim_log(run_dir / "train_log.jsonl", step)
        print(f"resuming {run_dir} from {checkpoint.name}")
    elif resume:
        raise UserError(f"{run_dir}: --resume given but there is no checkpoint to resume from")
    else:
        (run_dir / "train_log.jsonl").unlink(missing_ok=True)

    info = runs.start_run(run_dir, config_yaml, describe_hardware(), config.seed)
    started = time.time()
    if is_domain(config.task) and (model.kind == "encoder" or config.method == "lora-head"):
        raise UserError(f"task '{config.task}' is domain text for language modelling: it trains a causal LM with "
                        f"method lora, qlora or full, not {config.model} with {config.method}")
    if model.kind == "encoder" or config.method == "lora-head":
        from sft.train_classifier import train_classifier

        results = train_classifier(config, model, run_dir, checkpoint)
    else:
        if config.method == "lora-head":
            raise UserError("method lora-head needs the classifier path")
        results = train_generative(config, model, run_dir, checkpoint)
    runs.finish_run(run_dir, info, wall_time_s=round(time.time() - started, 1), model_kind=model.kind, **results)
    gc.collect()
    print(f"run finished: {run_dir}  ({results['weights']}/, config.yaml, train_log.jsonl, run.json)")
    return run_dir


def config_from_args(args) -> TrainConfig:
    layers = []
    if args.config:
        layers.append((read_yaml(args.config), str(args.config)))
    layers.append((parse_overrides(args.overrides), "command line"))
    return build_config(*layers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sft.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="any TrainConfig key, e.g. lr=1e-4 epochs=2 lora_r=8 task_options.text_column=review")
    parser.add_argument("--config", type=Path, help="YAML file of TrainConfig keys")
    parser.add_argument("--resume", action="store_true", help="require resuming from the last checkpoint")
    parser.add_argument("--force", action="store_true", help="discard an existing run and train from scratch")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    config = config_from_args(args)
    if args.print_config:
        print(to_yaml(config), end="")
        return 0
    train(config, force=args.force, resume=args.resume)
    return 0


if __name__ == "__main__":
    run_cli(main)
