"""Fine-tune a model on a task's Alpaca records: the training recipe, top to bottom.

    sftbench train task=mushroom model=smollm2-135m-instruct method=lora preset=cpu-fast
    sftbench train --config configs/examples/tweets-qlora.yaml lr=1e-4 epochs=2
    sftbench train task=mushroom eval_steps=16 save_steps=16 report_to=tensorboard \
        trainer_args.metric_for_best_model=label_accuracy trainer_args.load_best_model_at_end=true merge=true
    accelerate launch --config_file accelerate_config.yaml -m sftbench train --config ...
    accelerate launch --config_file configs/accelerate/ddp.yaml -m sftbench train ...   # 2 processes, DDP

Generative models train with TRL's SFTTrainer on prompt/completion pairs, so the loss covers only the
answer (the label and EOS); on a domain corpus (task=django-docs, domain:PATH) they train on blocks of
`max_length` tokens with the loss on every token. Encoder models, and method=lora-head, go to
sft/train_classifier.py. Settings and their defaults are all in sft/config.py (TrainConfig); what the
trainer gets from them is built in sft/trainer_args.py (any other SFTConfig / TrainingArguments field:
`trainer_args.KEY=VALUE`); presets live in configs/presets/. Each evaluation of a generative classification
run also logs the val records' label accuracy and macro-F1 (sft/label_scoring.py). A finished run gets a
model card (README.md beside its weights), and with merge / push_to_hub a merged model and an upload
(sft/export.py).
Bad input fails before anything is written under results/. An interrupted run resumes from its last
checkpoint when run again; a finished run is skipped unless --force. Every run writes one folder under
results/runs/ (see sft/run_folders.py); under several processes only the main one writes it.

datasets, trl and peft load inside the functions that use them: 6-8 s to import, and --help must not wait.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import time
from pathlib import Path

from prompts.build import build_task, load_split
from prompts.domain import blocks
from prompts.format import input_token_budget, prompt_completion, shorten_input
from prompts.tasks import get_task, task_kind, task_slug
from sft import run_folders
from sft.config import TrainConfig, build_config, parse_overrides, read_yaml, to_yaml
from sft.data import prepare_data
from sft.export import check_can_push, export_run
from sft.label_scoring import LabelScoringMixin
from sft.logging_callback import jsonl_log_callback
from sft.models import (
    ResolvedModel,
    attention_implementation,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
    uses_classifier_head,
)
from sft.run_groups import own_run_name
from sft.shared_prefix import SharedPrefixMixin
from sft.speedups import score_only_supervised_positions_on_cpu
from sft.train_classifier import build_classifier_trainer
from sft.trainer_args import (
    check_lora_layers,
    check_training_arguments,
    lora_config,
    quantization_config,
    tensorboard_logs_in,
    training_arguments,
)
from sft.trunk import DEFAULT_TRUNK_CACHE_GB, TrunkCacheMixin
from sftbench_common import locks, processes
from sftbench_common.errors import UserError, moved_to
from sftbench_common.hardware import describe_hardware, device_name, pick_precision, torch_dtype
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)


def check_method(config: TrainConfig, model: ResolvedModel) -> None:
    """The model kind, the method, the task kind and the export settings fit together (checked before anything
    is written)."""
    head = uses_classifier_head(model.kind, config.method)
    if task_kind(config.task) == "domain" and head:
        raise UserError(
            f"task '{config.task}' is domain text for language modelling: it trains a causal LM with "
            f"method lora, qlora or full, not {config.model} with {config.method}"
        )
    if head and config.method == "qlora":
        raise UserError(
            f"method qlora is for generative models; model '{config.model}' is an encoder: use lora or "
            f"full for a classifier"
        )
    if model.kind == "encoder" and config.method == "lora-head":
        raise UserError(f"model '{config.model}' is an encoder: its head is the classifier; use method lora or full")
    if config.merge and (config.method not in ("lora", "qlora") or head):
        raise UserError(
            f"merge=true is for lora and qlora runs of a generative model; {config.model} with {config.method} "
            f"saves a complete model (full) or a classifier"
        )
    if config.push_to_hub:
        check_can_push()
    if config.lora_layers is not None:
        from transformers import AutoConfig  # only when lora_layers is set; transformers takes seconds to import

        check_lora_layers(config.lora_layers, AutoConfig.from_pretrained(model.path))


# ---------------------------------------------------------------- the generative recipe


def load_generative_model(model: ResolvedModel, config: TrainConfig, precision: str):
    quantization = quantization_config(precision) if config.method == "qlora" else None
    # A frozen LoRA base is held in the compute dtype (no per-step casts of fp32 weights under autocast);
    # PEFT keeps the adapters themselves in fp32. Full fine-tuning keeps fp32 master weights.
    base_dtype = torch_dtype(precision) if config.method == "lora" else None
    lm = load_causal_lm(
        model,
        dtype=base_dtype,
        quantization_config=quantization,
        attention=attention_implementation(config.attention),
        # each process's 4-bit base on its own GPU (under one process, GPU 0)
        device_map={"": processes.local_rank()} if quantization is not None and device_name() == "cuda" else None,
    )
    if config.method == "qlora":
        from peft import prepare_model_for_kbit_training  # heavy (6 s), QLoRA only

        lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=config.gradient_checkpointing)
    return lm


def sft_trainer_class(label_scoring: bool, share_prefix: bool, trunk_cache: bool = False) -> type:
    """TRL's SFTTrainer with the toolkit's mixins: TrunkCacheMixin (the frozen trunk computed once, sft/trunk.py;
    outermost, so that it wraps the shared prefix), SharedPrefixMixin (sft/shared_prefix.py) and LabelScoringMixin
    (label accuracy at each evaluation, sft/label_scoring.py). TRL loads here: 7 s to import."""
    from trl import SFTTrainer

    mixins = (TrunkCacheMixin,) * trunk_cache + (SharedPrefixMixin,) * share_prefix
    mixins += (LabelScoringMixin,) * label_scoring
    if not mixins:
        return SFTTrainer
    return type("".join(m.__name__.removesuffix("Mixin") for m in mixins) + "SFTTrainer", (*mixins, SFTTrainer), {})


def sft_trainer(
    config: TrainConfig,
    model: ResolvedModel,
    run_dir: Path,
    tokenizer,
    train_dataset,
    eval_dataset,
    label_records: tuple[list[dict], list[str]] | None = None,
    share_prefix: bool = False,
    trunk_cache_folder: Path | None = None,
):
    """TRL's SFTTrainer with the model, precision, LoRA, trackers and JSONL log that `config` asks for; with
    `label_records` (val records, labels), every evaluation also reports label accuracy and macro-F1; with
    `share_prefix`, each batch's common prompt prefix runs once (sft/shared_prefix.py); the trunk cache
    (sft/trunk.py) lives in `trunk_cache_folder` (default: under the cache folder)."""
    scoring = bool(label_records and eval_dataset is not None and config.label_metrics)
    extra = {}
    if scoring:
        extra = {
            "label_records": label_records[0],
            "labels": label_records[1],
            "label_batch_size": config.batch_size * 2,
        }
    trunk_cache = config.trunk_cache is not False and config.method in ("lora", "qlora")
    if trunk_cache:
        gigabytes = DEFAULT_TRUNK_CACHE_GB if config.trunk_cache_gb is None else config.trunk_cache_gb
        extra["trunk_cache"] = {
            "model_folder": model.path,
            "quantized": config.method == "qlora",
            "disk_bytes": int(gigabytes * 1024**3),
            "folder": trunk_cache_folder,  # None: under the cache folder
        }
    precision = pick_precision(config.precision)
    lm = load_generative_model(model, config, precision)
    with tensorboard_logs_in(run_dir):
        return sft_trainer_class(label_scoring=scoring, share_prefix=share_prefix, trunk_cache=trunk_cache)(
            **extra,
            model=lm,
            args=training_arguments(config, run_dir, precision, has_eval=eval_dataset is not None),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            peft_config=lora_config(config, model=lm) if config.method in ("lora", "qlora") else None,
            callbacks=[jsonl_log_callback(run_dir / "train_log.jsonl")],
        )


def build_sft_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path, trunk_cache_folder: Path | None = None):
    """SFTTrainer over the task's prompt/completion pairs, every setting taken from `config`."""
    from datasets import Dataset  # heavy (1 s)

    train_records, val_records, labels = prepare_data(config)
    tokenizer = load_tokenizer(model)
    budget = input_token_budget(tokenizer, train_records[0]["instruction"], labels, config.max_length)

    def to_dataset(records):
        return Dataset.from_list([prompt_completion(shorten_input(r, tokenizer, budget), tokenizer) for r in records])

    if config.compact_lm_head:
        score_only_supervised_positions_on_cpu()
    return sft_trainer(
        config,
        model,
        run_dir,
        tokenizer,
        to_dataset(train_records),
        to_dataset(val_records) if val_records else None,
        label_records=(val_records, labels),
        share_prefix=config.share_prefix,
        trunk_cache_folder=trunk_cache_folder,
    )


def build_lm_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    """Plain language modelling on a domain corpus: fixed blocks of `max_length` tokens, loss on every token."""
    from datasets import Dataset  # heavy (1 s)

    slug = task_slug(config.task, config.task_options)
    tokenizer = load_tokenizer(model)

    def block_dataset(split: str, limit: int | None):
        return Dataset.from_dict(
            {"input_ids": blocks([r["text"] for r in load_split(slug, split)], tokenizer, config.max_length, limit)}
        )

    train_blocks, val_blocks = block_dataset("train", config.train_limit), block_dataset("val", config.eval_limit)
    if len(train_blocks) == 0:
        raise UserError(f"task '{slug}': the train split is shorter than one block of {config.max_length} tokens")
    # Pre-tokenized input_ids: TRL skips formatting, and with no completion mask the loss covers every token
    # (so there is no unscored prompt prefix to share).
    return sft_trainer(config, model, run_dir, tokenizer, train_blocks, val_blocks if len(val_blocks) else None)


def build_trainer(config: TrainConfig, model: ResolvedModel, run_dir: Path):
    """The one place the kind of trainer is chosen (`sftbench train` and `sftbench plan` both call it): a
    classifier head (transformers' Trainer, sft/train_classifier.py), language modelling on domain text, or
    supervised fine-tuning on prompt/completion pairs (TRL's SFTTrainer with the toolkit's mixins)."""
    if uses_classifier_head(model.kind, config.method):
        return build_classifier_trainer(config, model, run_dir)
    if task_kind(config.task) == "domain":
        return build_lm_trainer(config, model, run_dir)
    return build_sft_trainer(config, model, run_dir)


# ---------------------------------------------------------------- one run, start to finish


def prepare_run_folder(run_dir: Path, decision: run_folders.Decision) -> None:
    """Empty the folder for a fresh start (decide() allows it only where nothing trained is lost, or with --force),
    or trim its log to the checkpoint being resumed from."""
    if decision.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    elif decision.checkpoint is not None:
        run_folders.trim_log(run_dir / "train_log.jsonl", int(decision.checkpoint.name.split("-")[-1]))
        log.info(f"resuming {run_dir} from {decision.checkpoint.name}")


def train(config: TrainConfig, force: bool = False, resume: bool = False, results: Path | None = None) -> Path:
    """Train one run (or skip it if finished); returns its run folder. Under several processes (accelerate
    launch, torchrun) every process trains and the main one alone writes the run's files
    (sftbench_common/processes.py)."""
    results = results or results_dir()
    run_dir = config.run_dir(results)
    on_cpu = device_name() == "cpu"
    # Bad input fails here, before a model loads or anything is written under results/. The main process
    # writes the task's data files and the converted model first; the others then find them.
    with processes.main_process_first(on_cpu):
        split_hash = build_task(get_task(config.task, **config.task_options))["split_hash"]
        model = resolve_model(config.model)
    check_method(config, model)
    # One training of a run folder at a time: the main process holds the run's lock (the processes of one
    # launch are one run); a lock left by a stopped process is dropped by the OS with it.
    held = contextlib.nullcontext()
    if processes.is_main_process():
        held = locks.exclusive(
            run_dir,
            "training of this run",
            "wait for it to finish or stop it, then run this again (it resumes)",
            results,
        )
    with held:
        return train_run_folder(config, model, run_dir, split_hash, force, resume)


def train_run_folder(
    config: TrainConfig, model: ResolvedModel, run_dir: Path, split_hash: str, force: bool, resume: bool
) -> Path:
    """`train` once the run's input is checked and its folder is this process's: skip, resume, train or refuse, as
    run_folders.decide says; then what follows a run (export_run): after training always, after a skip where merge
    or push_to_hub asks for it."""
    on_cpu = device_name() == "cpu"
    config_yaml = to_yaml(config)
    decision = run_folders.decide(run_dir, config_yaml, split_hash, force)
    if decision.action == "refuse":
        raise UserError(decision.why)
    if resume and decision.action != "resume":
        raise UserError(f"{run_dir}: --resume given but there is no checkpoint to resume from ({decision.why})")
    if decision.action == "skip":
        log.info(f"already finished: {run_dir} (use --force to train again)")
    else:
        train_in_folder(config, config_yaml, model, run_dir, split_hash, decision)
    if processes.is_main_process() and (decision.action != "skip" or config.merge or config.push_to_hub):
        export_run(run_dir, model, merge=config.merge, repo_id=config.hub_model_id if config.push_to_hub else None)
    gc.collect()
    processes.wait_for_everyone(on_cpu)  # the next run (sft.experiment) starts when this one's files are written
    return run_dir


def train_in_folder(
    config: TrainConfig,
    config_yaml: str,
    model: ResolvedModel,
    run_dir: Path,
    split_hash: str,
    decision: run_folders.Decision,
) -> None:
    """Train (or resume) the run into its folder: run.json says `running` until the weights and metrics are saved."""
    on_cpu = device_name() == "cpu"
    if decision.action == "train" and decision.why != "new":
        log.info(f"{run_folders.display_path(run_dir)}: {decision.why}")
    check_training_arguments(
        config, run_dir, pick_precision(config.precision), sft=not uses_classifier_head(model.kind, config.method)
    )
    processes.wait_for_everyone(on_cpu)  # every process has read the folder before the main one changes it
    info = {}
    if processes.is_main_process():
        prepare_run_folder(run_dir, decision)
        info = run_folders.start_run(run_dir, config_yaml, describe_hardware(), config.seed, split_hash)
    processes.wait_for_everyone(on_cpu)
    started = time.time()
    trainer = build_trainer(config, model, run_dir)
    weights_dir = run_dir / ("adapter" if config.method != "full" else "model")
    results = run_folders.train_and_save(trainer, weights_dir, decision.checkpoint)
    if uses_classifier_head(model.kind, config.method):
        results["labels"] = list(trainer.model.config.id2label.values())
    if processes.is_main_process():
        run_folders.finish_run(
            run_dir,
            info,
            wall_time_s=round(time.time() - started, 1),
            model_kind=model.kind,
            processes=processes.world_size(),
            **results,
        )
        log.info(
            f"run finished: {run_dir}  ({results['weights']}/ with README.md, config.yaml, train_log.jsonl, run.json)"
        )


def config_from(overrides: list[str], config_file: Path | None = None) -> TrainConfig:
    """The run's config: defaults, then a preset, then `config_file`, then the command line's key=value pairs.
    Unless run_name or output_dir is given, the folder is named after the settings given (run_groups.own_run_name):
    `sftbench train task=mushroom lr=1e-4` trains into results/runs/mushroom/smollm2-135m-instruct-lora-lr0.0001,
    never into the default experiment's smollm2-135m-instruct-lora."""
    layers = []
    if config_file:
        layers.append((read_yaml(config_file), str(config_file)))
    layers.append((parse_overrides(overrides), "command line"))
    config = build_config(*layers)
    if config.run_name is None and config.output_dir is None:
        given = {key: value for values, _ in layers for key, value in values.items()}
        config = build_config(*layers, ({"run_name": own_run_name(config, given)}, "the settings given"))
    return config


if __name__ == "__main__":
    moved_to("sftbench train")
