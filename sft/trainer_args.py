"""Every setting the trainers get, built from a TrainConfig in this one place.

`training_arguments` fills TRL's SFTConfig (generative runs) or transformers' TrainingArguments (classifier
heads) from the TRAINER_ARGUMENTS table in sft/config.py, then the few settings the toolkit decides itself,
then the user's `trainer_args:` mapping (any other field of those dataclasses) over both. `lora_config` and
`quantization_config` build the PEFT and bitsandbytes settings. Nothing is left to a library default that
differs between them (TRL's SFTConfig turns on bf16 and activation checkpointing).

peft, trl and transformers load inside the functions: 6-8 s to import, and --help must answer at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
from pathlib import Path

from sft.config import SFT_ARGUMENTS, TRAINER_ARGUMENTS, TrainConfig, trainer_fields
from sftbench_common.errors import UserError
from sftbench_common.hardware import device_name, torch_dtype
from sftbench_common.logs import progress_bars_shown

# trainer_args keys with a home elsewhere: one place for each setting, so config.yaml says what ran.
OWNED_ELSEWHERE = {
    **{hf_name: key for key, hf_name in {**TRAINER_ARGUMENTS, **SFT_ARGUMENTS}.items()},
    "bf16": "precision",
    "fp16": "precision",
    "output_dir": "output_dir (the run folder; checkpoints go to its checkpoints/)",
    "push_to_hub": "push_to_hub (the adapter or merged model with its card, after training)",
    "hub_model_id": "hub_model_id",
    "gradient_checkpointing": "gradient_checkpointing",
}


def _typed_value(name: str, value, field):
    """YAML reads `1e-8` (no dot) as a string: give float fields a float."""
    if isinstance(value, str) and "float" in str(field.type) and value not in ("none", "None"):
        try:
            return float(value)
        except ValueError:
            raise UserError(f"trainer_args.{name} must be a number, got '{value}'") from None
    return value


def user_trainer_args(config: TrainConfig, sft: bool = True) -> dict:
    """The `trainer_args:` mapping, checked against SFTConfig (sft) or TrainingArguments fields."""
    from transformers import TrainingArguments

    fields = trainer_fields()
    if not sft:
        allowed = {f for f in TrainingArguments.__dataclass_fields__}
        fields = {name: f for name, f in fields.items() if name in allowed}
    values = {}
    for name, value in config.trainer_args.items():
        if name in OWNED_ELSEWHERE:
            raise UserError(f"trainer_args.{name}: set it with the config key '{OWNED_ELSEWHERE[name]}'")
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
            where = "SFTConfig" if sft else "TrainingArguments (classifier runs)"
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UserError(f"trainer_args.{name}: not a field of {where}{hint}")
        values[name] = _typed_value(name, value, fields[name])
    return values


def installed_trackers() -> set[str]:
    """The reporting integrations transformers finds installed (its own checks: tensorboard through
    tensorboardX, azure_ml through azureml-core, ...)."""
    from transformers.integrations import integration_utils

    found = set(integration_utils.get_available_reporting_integrations())
    # transformers' list leaves out flyte, and azure_ml where mlflow is installed (for report_to=all only)
    found |= {"flyte"} if integration_utils.is_flytekit_available() else set()
    found |= {"azure_ml"} if integration_utils.is_azureml_available() else set()
    return found


def check_trackers(report_to) -> None:
    """Each tracker in report_to is one transformers knows and finds installed (wandb, trackio: the user's)."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    installed = installed_trackers() if set(names) - {"none", "all"} else set()
    for name in names:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            close = difflib.get_close_matches(name, list(INTEGRATION_TO_CALLBACK), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            known = ", ".join(["none", *INTEGRATION_TO_CALLBACK])
            raise UserError(f"report_to: unknown tracker '{name}'; {hint}known: {known}")
        if name not in installed:
            raise UserError(
                f"report_to: transformers finds no installed package for '{name}': install it "
                f"(pip install {name.replace('_', '')} for most), or report_to=none"
            )


def training_arguments(config: TrainConfig, run_dir: Path, precision: str, has_eval: bool, sft: bool = True):
    """SFTConfig (sft=True) or TrainingArguments with every setting chosen here, not by library defaults."""
    from transformers import TrainingArguments
    from trl import SFTConfig

    values = {hf_name: getattr(config, key) for key, hf_name in TRAINER_ARGUMENTS.items()}
    # transformers 5 has no warmup_ratio: a float below 1 in warmup_steps is read as a fraction of the total
    # steps, so TrainConfig.warmup_ratio (validated to [0, 1)) goes there unchanged.
    values.update(
        output_dir=str(run_dir / "checkpoints"),
        per_device_eval_batch_size=config.batch_size * 2,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        logging_first_step=True,
        eval_strategy="no" if not has_eval else ("steps" if config.eval_steps else "epoch"),
        save_strategy="steps",
        data_seed=config.seed,
        use_cpu=device_name() == "cpu",
        run_name=f"{run_dir.parent.name}/{run_dir.name}",  # the name trackers show: <task>/<model>-<method>
        # a progress bar on a terminal; elsewhere (CI logs, files) the log lines alone (sftbench_common/logs.py)
        disable_tqdm=not progress_bars_shown(),
    )
    if sft:
        values.update({hf_name: getattr(config, key) for key, hf_name in SFT_ARGUMENTS.items()})
        # Prompt/completion records: the loss covers the completion only. No worker pool for tokenizing.
        values.update(completion_only_loss=True, dataset_num_proc=None)
    values.update(user_trainer_args(config, sft))
    try:
        return SFTConfig(**values) if sft else TrainingArguments(**values)
    except (ValueError, TypeError) as err:
        given = ", ".join(f"{k}={v}" for k, v in config.trainer_args.items()) or "no trainer_args"
        raise UserError(f"the trainer refuses these settings ({given}): {err}") from None


@contextlib.contextmanager
def tensorboard_logs_in(run_dir: Path):
    """TensorBoard's callback writes to TENSORBOARD_LOGGING_DIR when it is built (with the Trainer), else to
    checkpoints/runs/<date_host>: point it at the run folder's tensorboard/ unless the user chose a folder."""
    if os.environ.get("TENSORBOARD_LOGGING_DIR"):
        yield
        return
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    try:
        yield
    finally:
        os.environ.pop("TENSORBOARD_LOGGING_DIR", None)


def check_training_arguments(config: TrainConfig, run_dir: Path, precision: str, sft: bool) -> None:
    """Build the arguments once before anything is written, so a bad setting fails first."""
    check_trackers(config.report_to)
    training_arguments(config, run_dir, precision, has_eval=True, sft=sft)
    if config.lora_args or config.lora_layers is not None:
        lora_config(config)


def lora_config(config: TrainConfig, task_type: str = "CAUSAL_LM", target_modules=None, model=None):
    """The adapter: lora_r / lora_alpha / lora_dropout / lora_target_modules, lora_layers (with `model`, the
    loaded model they count from), then any other LoraConfig field from `lora_args` (lora_args.use_dora=true,
    lora_args.layers_to_transform=[20,21,22,23])."""
    from peft import LoraConfig

    fields = {f.name for f in dataclasses.fields(LoraConfig)}
    for key in config.lora_args:
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"; did you mean 'lora_args.{close[0]}'?" if close else ""
            raise UserError(f"lora_args.{key}: not a peft LoraConfig field{hint}")
    settings = {
        "r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": target_modules or config.lora_target_modules,
        "task_type": task_type,
    }
    if config.lora_layers is not None and model is not None:
        settings["layers_to_transform"], settings["target_modules"] = top_layers(
            model, config.lora_layers, settings["target_modules"]
        )
    try:
        return LoraConfig(**{**settings, **config.lora_args})
    except (TypeError, ValueError) as err:
        raise UserError(f"lora_args / lora_* settings: peft's LoraConfig refuses them: {err}") from None


LAYER_INDEX = re.compile(r"\.(?:layers|layer|h|blocks)\.(\d+)\.")  # model.layers.7.mlp.up_proj, transformer.h.7.attn


def check_lora_layers(count: int, model_config) -> int:
    """The model's transformer layer count, once `count` (lora_layers) is known to fit in it."""
    layers = model_config.get_text_config().num_hidden_layers
    if count > layers:
        raise UserError(f"lora_layers={count}: the model has {layers} transformer layers")
    return layers


def top_layers(model, count: int, target_modules) -> tuple[list[int], str | list]:
    """(layers_to_transform, target_modules) for LoRA on the model's top `count` transformer layers. PEFT takes
    layer indices only with a list of module names, so `all-linear` becomes the names of the linear layers
    inside the transformer layers (q_proj, ..., down_proj; never the LM head)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    layers = check_lora_layers(count, model.config)
    if target_modules == "all-linear":
        target_modules = sorted(
            {
                name.rsplit(".", 1)[-1]
                for name, module in model.named_modules()
                if LAYER_INDEX.search(name) and isinstance(module, (torch.nn.Linear, Conv1D))
            }
        )
    elif isinstance(target_modules, str):
        raise UserError(
            f"lora_layers needs lora_target_modules as a list of names or all-linear, not {target_modules!r}"
        )
    return list(range(layers - count, layers)), target_modules


def quantization_config(precision: str):
    """QLoRA's 4-bit NF4 base (double-quantized), computing and storing in the run's precision."""
    from transformers import BitsAndBytesConfig

    compute = torch_dtype(precision)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_quant_storage=compute,
    )
