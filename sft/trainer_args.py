"""Every setting the trainers get, built from a TrainConfig in this one place.

`training_arguments` fills TRL's SFTConfig (generative runs) or transformers' TrainingArguments (classifier
heads) from the TRAINER_ARGUMENTS table in sft/config.py plus the few settings the toolkit decides itself;
`lora_config` and `quantization_config` build the PEFT and bitsandbytes settings. Nothing is left to a
library default that differs between them (TRL's SFTConfig turns on bf16 and activation checkpointing).

peft, trl and transformers load inside the functions: 6-8 s to import, and --help must answer at once.
"""

from __future__ import annotations

from pathlib import Path

from common.hardware import device_name, torch_dtype
from sft.config import SFT_ARGUMENTS, TRAINER_ARGUMENTS, TrainConfig


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
        report_to="none",
    )
    if not sft:
        return TrainingArguments(**values)
    values.update({hf_name: getattr(config, key) for key, hf_name in SFT_ARGUMENTS.items()})
    # Prompt/completion records: the loss covers the completion only. No worker pool for tokenizing.
    return SFTConfig(**values, completion_only_loss=True, dataset_num_proc=None)


def lora_config(config: TrainConfig, task_type: str = "CAUSAL_LM", target_modules=None):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target_modules or config.lora_target_modules,
        task_type=task_type,
    )


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
