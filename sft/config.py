"""Every training setting in one place: `TrainConfig`. YAML files and `key=value` overrides fill it.

Precedence, lowest first: the defaults below < the preset (configs/presets/<name>.yaml) < the config
file < command-line `key=value` overrides. Unknown keys are an error that suggests the nearest key.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from prompts.sampling import SAMPLINGS
from prompts.tasks import task_slug
from sft.models import model_slug
from sftbench_common.errors import UserError
from sftbench_common.paths import REPO_ROOT, shown_path

PRESETS_DIR = REPO_ROOT / "configs" / "presets"
METHODS = ("lora", "qlora", "full", "lora-head")


@dataclass
class TrainConfig:
    # what to train
    task: str = "mushroom"  # registry name or csv:PATH / jsonl:PATH
    task_options: dict = field(default_factory=dict)  # column names etc. for csv:/jsonl: tasks
    model: str = "smollm2-135m-instruct"  # registry name, Hub id or local folder
    method: str = "lora"  # lora | qlora | full | lora-head (classification head on the LM)
    preset: str | None = None  # configs/presets/<preset>.yaml
    output_dir: str | None = None  # default: results/runs/<task>/<run_name>
    run_name: str | None = None  # the run folder's name; default <model>-<method> (experiments name seeds, sweeps)
    seed: int = 42  # training seed: data order, LoRA initialisation, dropout
    train_limit: int | None = None  # use N train records (None: all of them)
    train_sampling: str = "first"  # which N: first | leaf-topup (rare rules topped up; prompts/sampling.py)
    eval_limit: int | None = 200  # val records scored for eval loss
    # optimisation (AdamW)
    epochs: float = 3  # passes over the train records (fractions allowed)
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 8  # records per device and step
    grad_accum: int = 1  # steps accumulated before each optimizer update
    lr: float = 2e-4  # peak learning rate (2e-4 LoRA, 2e-5 full fine-tuning are the usual starts)
    scheduler: str = "linear"  # any transformers scheduler name, e.g. constant_with_warmup
    warmup_ratio: float = 0.0  # fraction of the steps spent warming the learning rate up
    weight_decay: float = 0.0  # AdamW weight decay
    optim: str = "adamw_torch"  # any transformers optimizer name (adamw_torch, paged_adamw_8bit, ...)
    max_grad_norm: float = 1.0  # gradient clipping
    max_length: int = 512  # tokens; long inputs are shortened so the answer always fits
    precision: str = "auto"  # auto | bf16 | fp16 | fp32 (auto: see sftbench_common/hardware.py)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower
    padding_free: bool = False  # TRL padding-free batches (needs flash attention on GPU)
    compact_lm_head: bool = True  # CPU: vocabulary projection only at answer tokens (sft/speedups.py)
    share_prefix: bool = True  # each batch's common prompt prefix runs once (sft/shared_prefix.py)
    # the frozen layers below the lowest adapter computed once per record and kept (sft/trunk.py); None: on
    # wherever the trunk is frozen and dropout-free (lora_layers=N), false: off
    trunk_cache: bool | None = None
    trunk_cache_gb: float | None = None  # the trunk cache's disk limit under $SFTBENCH_CACHE/trunk (None: 8 GB)
    attention: str = "auto"  # auto (eager on CPU, SDPA elsewhere) | eager | sdpa | flash_attention_2 | ...
    logging_steps: int = 5  # train loss logged every N steps (train_log.jsonl, TensorBoard)
    eval_steps: int | None = None  # None: evaluate once per epoch
    save_steps: int = 25  # checkpoint interval, for --resume
    save_total_limit: int = 2  # checkpoints kept (the newest ones)
    dataloader_workers: int = 0  # data-loading processes (0: in the training process)
    label_metrics: bool = True  # generative classification: score the val labels at each evaluation
    report_to: str | list = "tensorboard"  # none | tensorboard | wandb | trackio | ... (a list for several)
    # LoRA / QLoRA
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling (alpha / r multiplies the update)
    lora_dropout: float = 0.05  # dropout on the LoRA input (0 lets the frozen trunk be cached)
    lora_target_modules: str | list = "all-linear"  # the modules adapted: all-linear or a list of names
    # adapt only the top N transformer layers (None: all): the backward pass then stops at the lowest adapted
    # layer. With `all-linear` the targets are every linear layer of those N (sft/trainer_args.py)
    lora_layers: int | None = None
    # export (sft/export.py)
    merge: bool = False  # also save base + adapter merged into one safetensors model (lora, qlora)
    push_to_hub: bool = False  # upload the adapter (or the merged model) with its model card
    hub_model_id: str | None = None  # OWNER/NAME of the Hub repository push_to_hub uploads to
    # any other SFTConfig / TrainingArguments field, merged over what the toolkit sets (sft/trainer_args.py)
    trainer_args: dict = field(default_factory=dict)
    # any other peft LoraConfig field (use_dora, use_rslora, layers_to_transform, modules_to_save, ...)
    lora_args: dict = field(default_factory=dict)

    def run_dir(self, results_root: Path) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        name = self.run_name or f"{model_slug(self.model)}-{self.method}"
        return results_root / "runs" / task_slug(self.task, self.task_options) / name


# transformers' attn_implementation names (sft/models.py attention_implementation reads "auto")
ATTENTIONS = ("auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# TrainConfig key -> the TrainingArguments field it sets; sft/trainer_args.py builds the arguments from this
# one table, and the "did you mean" hint reads it backwards for users who bring transformers' names.
TRAINER_ARGUMENTS = {
    "epochs": "num_train_epochs",
    "max_steps": "max_steps",
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "lr": "learning_rate",
    "scheduler": "lr_scheduler_type",
    "warmup_ratio": "warmup_steps",
    "weight_decay": "weight_decay",
    "optim": "optim",
    "max_grad_norm": "max_grad_norm",
    "gradient_checkpointing": "activation_checkpointing",
    "logging_steps": "logging_steps",
    "eval_steps": "eval_steps",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "seed": "seed",
    "dataloader_workers": "dataloader_num_workers",
    "report_to": "report_to",
}
SFT_ARGUMENTS = {"max_length": "max_length", "padding_free": "padding_free"}  # SFTConfig only
OTHER_NAMES = {
    "max_seq_length": "max_length",
    "r": "lora_r",
    "target_modules": "lora_target_modules",
    "model_name": "model",
    "model_name_or_path": "model",
    "dataset": "task",
    "bf16": "precision",
    "fp16": "precision",
    "output": "output_dir",
    "gradient_checkpointing_enable": "gradient_checkpointing",
    "attn_implementation": "attention",
}
KNOWN_NAMES = {**{hf: key for key, hf in {**TRAINER_ARGUMENTS, **SFT_ARGUMENTS}.items()}, **OTHER_NAMES}


MAPPING_KEYS = ("task_options", "trainer_args", "lora_args")  # set key by key: trainer_args.KEY=VALUE


def suggest_key(key: str) -> str | None:
    close = difflib.get_close_matches(key, [*FIELDS, *KNOWN_NAMES], n=1, cutoff=0.6)
    return KNOWN_NAMES.get(close[0], close[0]) if close else None


def _check_keys(values: dict, origin: str) -> None:
    for key in values:
        if key not in FIELDS:
            # transformers' own name of a short key -> the short key; any other Trainer field -> trainer_args
            if key in KNOWN_NAMES:
                close = KNOWN_NAMES[key]
            elif key in trainer_fields():
                close = f"trainer_args.{key}"
            else:
                close = suggest_key(key)
            hint = f"; did you mean '{close}'?" if close else ""
            raise UserError(f"{origin}: unknown config key '{key}'{hint}")
        if key in MAPPING_KEYS and not isinstance(values[key], dict):
            raise UserError(f"{origin}: '{key}' must be a mapping of key: value, got {values[key]!r}")


def trainer_fields() -> dict:
    """SFTConfig's fields (a superset of TrainingArguments'), name -> dataclass field. Imports TRL: 7 s."""
    from trl import SFTConfig

    return {f.name: f for f in dataclasses.fields(SFTConfig)}


def _coerce(key: str, raw: str):
    """A command-line value as YAML would read it ('3' -> 3, 'true' -> True, 'null' -> None)."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: invalid YAML ({getattr(err, 'problem', err)})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of key: value")
    return values


def parse_overrides(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UserError(f"override '{pair}': expected key=value")
        if "." in key:  # task_options.text_column=review
            head, _, sub = key.partition(".")
            values.setdefault(head, {})[sub] = _coerce(sub, raw)
        else:
            values[key] = _coerce(key, raw)
    return values


def preset_values(name: str) -> dict:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"unknown preset '{name}'{hint} Presets: {', '.join(known)}")
    values = read_yaml(path)
    _check_keys(values, str(path))
    return values


FLOAT_KEYS = {"epochs", "lr", "warmup_ratio", "weight_decay", "max_grad_norm", "lora_dropout", "trunk_cache_gb"}


def _typed(key: str, value, origin: str):
    """Numbers as numbers: YAML reads `2e-4` (no dot) as a string, which would reach the optimizer."""
    if key in FLOAT_KEYS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise UserError(f"{origin}: '{key}' must be a number, got '{value}'") from None
    return value


def build_config(*layers: tuple[dict, str]) -> TrainConfig:
    """Merge (values, origin) layers over the defaults, inserting the preset they name under them."""
    merged: dict = {}
    for values, origin in layers:
        _check_keys(values, origin)
    preset = next((v["preset"] for v, _ in reversed(layers) if v.get("preset")), None)
    if preset:
        merged.update(preset_values(preset))
    for values, origin in layers:
        for key, value in values.items():
            value = _typed(key, value, origin)
            if key in MAPPING_KEYS:
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    config = TrainConfig(**merged)
    if config.method not in METHODS:
        raise UserError(f"method '{config.method}' is not one of {', '.join(METHODS)}")
    if config.train_sampling not in SAMPLINGS:
        raise UserError(f"train_sampling '{config.train_sampling}' is not one of {', '.join(SAMPLINGS)}")
    if config.precision not in ("auto", "bf16", "fp16", "fp32"):
        raise UserError(f"precision '{config.precision}' is not one of auto, bf16, fp16, fp32")
    if config.attention not in ATTENTIONS and "/" not in config.attention:  # OWNER/NAME: a Hub kernel
        raise UserError(f"attention '{config.attention}' is not one of {', '.join(ATTENTIONS)} (or a Hub kernel id)")
    if not 0 <= config.warmup_ratio < 1:
        raise UserError(f"warmup_ratio must be a fraction of the training steps in [0, 1), got {config.warmup_ratio}")
    if config.push_to_hub and not config.hub_model_id:
        raise UserError("push_to_hub=true needs hub_model_id=OWNER/NAME, the Hub repository to upload to")
    for key in ("batch_size", "grad_accum", "max_length", "lora_r"):
        if not isinstance(getattr(config, key), int) or getattr(config, key) < 1:
            raise UserError(f"config key '{key}' must be a positive integer, got {getattr(config, key)!r}")
    if config.lora_layers is not None and (not isinstance(config.lora_layers, int) or config.lora_layers < 1):
        raise UserError(
            f"config key 'lora_layers' must be a positive integer or null (all layers), got {config.lora_layers!r}"
        )
    if config.lora_layers is not None and "layers_to_transform" in config.lora_args:
        raise UserError("lora_layers and lora_args.layers_to_transform both choose the adapted layers: set one of them")
    return config


# Keys written to config.yaml only when set, so that the runs trained before they existed keep their config.
WRITTEN_WHEN_SET = ("run_name", "lora_args", "lora_layers", "trunk_cache", "trunk_cache_gb")


FILE_TASK_PREFIXES = ("csv:", "jsonl:", "domain:")


def shown_model(model: str) -> str:
    """A model as published: a Hub id or registry name as it is, a local folder by shown_path."""
    return shown_path(model) if Path(model).expanduser().exists() else model


def shareable_config(values: dict) -> dict:
    """A run's config.yaml values as a model card or the paper shows them: the user's files and folders named
    relative to the repository, or by their base name, never by an absolute path (sftbench_common/paths.py shown_path).
    The run folder's own config.yaml keeps the real paths, which resuming needs."""
    shown = dict(values)
    task = shown.get("task") or ""
    prefix = next((p for p in FILE_TASK_PREFIXES if task.startswith(p)), None)
    if prefix:
        shown["task"] = prefix + shown_path(task.removeprefix(prefix))
    options = dict(shown.get("task_options") or {})
    for key in ("test_file", "val_file"):
        if options.get(key):
            options[key] = shown_path(options[key])
    if "task_options" in shown:
        shown["task_options"] = options
    if shown.get("model"):
        shown["model"] = shown_model(shown["model"])
    if shown.get("output_dir"):
        shown["output_dir"] = shown_path(shown["output_dir"])
    return shown


def to_yaml(config: TrainConfig) -> str:
    values = {k: v for k, v in dataclasses.asdict(config).items() if k not in WRITTEN_WHEN_SET or v not in (None, {})}
    return yaml.safe_dump(values, sort_keys=False)
