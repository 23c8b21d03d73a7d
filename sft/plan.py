"""What an experiment will cost before it runs: `sftbench plan --experiment colab`.

Per run: the training examples, their tokens (as the trainer sees them: built by the run's own trainer, so
chat template, shortening and max_length are included), the optimizer steps and evaluations, and two time
estimates:

* this machine: the run's own trainer (same model, batch, precision) trains a few steps and evaluates
  once; the seconds per step after a warm-up step, times the steps, plus the evaluations and the set-up.
* a GPU: training FLOPs (6 x parameters per token for full fine-tuning, 4 x for LoRA and QLoRA, whose
  frozen weights need no gradient; +2 x with activation checkpointing) over the GPU's dense fp16/bf16
  tensor-core peak from NVIDIA's datasheets, at an assumed utilisation (UTILISATION), plus a fixed cost
  per optimizer step. It is an estimate from documented figures, not a measurement.

A model this machine cannot load (a Hub id, offline) is counted with a stand-in of the same kind (its
tokens are marked ~) and its size from KNOWN_PARAMETERS; it gets no estimate for this machine.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path

from sft.config import TrainConfig
from sft.models import ResolvedModel, resolve_model
from sft.train import build_trainer
from sftbench_common.errors import UserError
from sftbench_common.hardware import pick_precision
from sftbench_common.logs import get_logger

log = get_logger(__name__)

# Dense fp16/bf16 tensor-core peak, TFLOP/s (NVIDIA datasheets; the "with sparsity" figures are twice these).
GPUS = {"T4": 65.0, "L4": 121.0, "A100": 312.0, "H100": 989.0}
# Share of that peak small-batch fine-tuning reaches. QLoRA dequantizes every 4-bit weight on each use; a
# profiling study of QLoRA on a consumer GPU (arXiv 2509.12229: Qwen2.5-1.5B, 500-628 tokens/s on an RTX
# 4060) works out near 0.15.
UTILISATION = {"full": 0.30, "lora": 0.30, "lora-head": 0.30, "qlora": 0.15}
STEP_OVERHEAD_S = 0.05  # optimizer step, data loading and kernel launches per optimizer step on a GPU
# Sizes of the Hub models the experiments name, from their model cards, for when they cannot load here.
KNOWN_PARAMETERS = {
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": ("causal", 1_100_048_384),
    "distilbert/distilbert-base-uncased": ("encoder", 66_955_010),
    "openai-community/gpt2": ("causal", 124_439_808),
}
# The offline model whose tokenizer counts a Hub model's tokens (MiniLM has DistilBERT's uncased WordPiece).
STAND_IN = {"causal": "smollm2-135m-instruct", "encoder": "minilm-l6"}
MEASURED_STEPS = 3  # timed, after one warm-up step


@dataclasses.dataclass
class RunPlan:
    config: TrainConfig
    examples: int
    tokens: int
    steps: int
    evaluations: int
    eval_tokens: int
    parameters: int
    stand_in: str | None = None  # the model that counted the tokens, when the run's own cannot load here
    machine_s: float | None = None  # estimated seconds on this machine
    machine_detail: str = ""

    def gpu_seconds(self, gpu: str) -> float:
        per_token = (6 if self.config.method == "full" else 4) + (2 if self.config.gradient_checkpointing else 0)
        flops = per_token * self.parameters * self.tokens
        # each evaluation: a forward pass over the val records, and as much again for label scoring
        flops += self.evaluations * 2 * self.parameters * self.eval_tokens * 2
        return flops / (GPUS[gpu] * 1e12 * UTILISATION[self.config.method]) + self.steps * STEP_OVERHEAD_S


def optimizer_steps(config: TrainConfig, examples: int) -> int:
    """As the Trainer counts them on one process: batches per epoch over gradient accumulation, times the epochs."""
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(examples / config.batch_size)
    per_epoch = max(batches // config.grad_accum + int(batches % config.grad_accum > 0), 1)
    return math.ceil(config.epochs * per_epoch)


def evaluation_count(config: TrainConfig, steps: int, has_eval: bool) -> int:
    if not has_eval:
        return 0
    if not config.eval_steps:
        return math.ceil(config.epochs)
    # and one at the end when the last step is not an evaluation step (sft/run_folders.py final_evaluation)
    return steps // config.eval_steps + int(steps % config.eval_steps > 0)


def model_size(model: ResolvedModel) -> int:
    """Parameters, counted on the meta device (no weights load)."""
    import torch  # heavy (2 s)
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    loader = AutoModelForCausalLM if model.kind == "causal" else AutoModel
    with torch.device("meta"):
        instance = loader.from_config(AutoConfig.from_pretrained(model.path))
    return sum(p.numel() for p in instance.parameters())


def timed_steps(trainer):
    """A callback on `trainer` that records each optimizer step's seconds (in .durations); the timed steps' log
    lines are left out of the output, as they are not the user's run."""
    from transformers import PrinterCallback, TrainerCallback  # heavy (10 s); --plan only

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.durations: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.durations.append(time.perf_counter() - self.started)

    timer = StepTimer()
    trainer.add_callback(timer)
    trainer.remove_callback(PrinterCallback)
    return timer


def planned_kind(model: str) -> str:
    """'causal' or 'encoder', without the model where it is not here but its kind is known (a Hub id offline)."""
    try:
        return resolve_model(model).kind
    except UserError:
        if model not in KNOWN_PARAMETERS:
            raise
        return KNOWN_PARAMETERS[model][0]


def plan_run(config: TrainConfig, measure: bool) -> RunPlan:
    stand_in, parameters, counted = None, None, config
    try:
        model = resolve_model(config.model)
    except UserError:
        if config.model not in KNOWN_PARAMETERS:
            raise
        kind, parameters = KNOWN_PARAMETERS[config.model]
        stand_in = STAND_IN[kind]
        model = resolve_model(stand_in)
        measure = False
        # the stand-in counts tokens only: QLoRA's 4-bit loading would add nothing to that
        method = "lora" if config.method == "qlora" else config.method
        counted = dataclasses.replace(config, model=stand_in, method=method)
    with tempfile.TemporaryDirectory(prefix="sftbench-plan-") as scratch:
        trial = dataclasses.replace(
            counted,
            output_dir=scratch,
            max_steps=1 + MEASURED_STEPS,
            eval_steps=None,
            save_steps=10_000,
            report_to="none",
            merge=False,
            push_to_hub=False,
            # no evaluations or best-checkpoint bookkeeping during the few timed steps
            trainer_args={**config.trainer_args, "disable_tqdm": True, "load_best_model_at_end": False},
        )
        started = time.perf_counter()
        trainer = build_trainer(trial, model, Path(scratch))
        setup_s = time.perf_counter() - started
        examples = len(trainer.train_dataset)
        tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
        eval_set = trainer.eval_dataset
        eval_tokens = sum(len(ids) for ids in eval_set["input_ids"]) if eval_set is not None else 0
        steps = optimizer_steps(config, examples)
        plan = RunPlan(
            config,
            examples,
            tokens,
            steps,
            evaluation_count(config, steps, eval_set is not None),
            eval_tokens,
            parameters or model_size(model),
            stand_in=stand_in,
        )
        if measure:
            timer = timed_steps(trainer)
            trainer.train()
            per_step = sum(timer.durations[1:]) / max(len(timer.durations) - 1, 1)
            eval_s = 0.0
            if plan.evaluations:
                started = time.perf_counter()
                trainer.evaluate()
                eval_s = time.perf_counter() - started
            plan.machine_s = setup_s + steps * per_step + plan.evaluations * eval_s
            plan.machine_detail = f"{per_step:.2f} s/step, {eval_s:.1f} s/eval"
        del trainer
    return plan


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def plan_table(plans: list[RunPlan], gpu: str, precision: str) -> str:
    header = (
        f"| run | examples | tokens | steps | evals | this machine ({precision}) | {gpu} (estimate) |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for plan in plans:
        where = Path(*plan.config.run_dir(Path("results")).parts[-2:])  # <task>/<model>-<method>
        tokens = f"~{plan.tokens:,}" if plan.stand_in else f"{plan.tokens:,}"
        machine = duration(plan.machine_s) + (f" ({plan.machine_detail})" if plan.machine_detail else "")
        lines.append(
            f"| {where} | {plan.examples:,} | {tokens} | {plan.steps:,} | {plan.evaluations} | {machine} "
            f"| {duration(plan.gpu_seconds(gpu))} |"
        )
    measured = [p.machine_s for p in plans if p.machine_s is not None]
    machine_total = duration(sum(measured)) if measured else "n/a"
    if measured and len(measured) < len(plans):
        machine_total += " (the runs that load here)"
    lines.append(
        f"| **total** | {sum(p.examples for p in plans):,} | {sum(p.tokens for p in plans):,} | "
        f"{sum(p.steps for p in plans):,} | {sum(p.evaluations for p in plans)} | {machine_total} | "
        f"{duration(sum(p.gpu_seconds(gpu) for p in plans))} |"
    )
    return "\n".join(lines)


def packed_seconds(durations: list[float], workers: int) -> float:
    """The wall time of independent runs on `workers` machines alike, each run to the machine that frees up
    first, longest runs first (Graham's LPT rule: within 4/3 of the best packing)."""
    loads = [0.0] * workers
    for seconds in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += seconds
    return max(loads)


def workers_table(plans: list[RunPlan], gpu: str, workers: list[int]) -> str:
    """For each N: the experiment's wall time on N workers like this machine and on N GPUs (`train-all --executor
    ray|slurm` runs that many at once)."""
    here = [p.machine_s for p in plans if p.machine_s is not None]
    lines = [f"| workers | this machine's kind | {gpu} |", "|---:|---:|---:|"]
    for count in workers:
        machine = duration(packed_seconds(here, count)) if len(here) == len(plans) else "n/a"
        on_gpus = duration(packed_seconds([p.gpu_seconds(gpu) for p in plans], count))
        lines.append(f"| {count} | {machine} | {on_gpus} |")
    return "\n".join(lines)


def print_plan(
    configs: list[TrainConfig], gpu: str = "T4", measure: bool = True, workers: list[int] | None = None
) -> tuple[list[RunPlan], str]:
    """Plan every run and print the table and its notes; returns the plans and the printed text."""
    plans = []
    for index, config in enumerate(configs, start=1):
        log.info(f"planning {index}/{len(configs)}: {config.task} {config.model} {config.method}")
        plans.append(plan_run(config, measure))
    # the runs' own precision: auto picks this machine's, an override (precision=fp32) is what ran
    parts = [plan_table(plans, gpu, "/".join(sorted({pick_precision(c.precision) for c in configs})))]
    notes = [
        f"{gpu}: {GPUS[gpu]:.0f} TFLOP/s peak at {UTILISATION['lora']:.0%} utilisation "
        f"({UTILISATION['qlora']:.0%} for QLoRA) plus {STEP_OVERHEAD_S} s per step: an estimate (sft/plan.py)."
    ]
    stand_ins = sorted({f"{p.config.model} counted with {p.stand_in}'s tokenizer" for p in plans if p.stand_in})
    if stand_ins:
        notes.append("~: not on this machine, " + "; ".join(stand_ins) + ".")
    if not measure:
        notes.append("--no-measure: no steps were timed on this machine.")
    parts.append("\n".join(notes))
    if workers:
        parts.append(workers_table(plans, gpu, workers))
        parts.append(
            "On N workers: the runs packed longest first onto whichever worker is free; a sweep's later seeds wait "
            "for its grid, which this packing leaves out, and each worker's start-up (model conversion) is not counted."
        )
    text = "\n\n".join(parts)
    print("\n" + text)
    return plans, text
