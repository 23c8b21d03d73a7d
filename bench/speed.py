"""How much faster the toolkit trains and scores than the plain recipe, measured in one process.

    sftbench speed                       # `make speed`: SmolLM2 on mushroom and tweets, this machine
    sftbench speed --tasks tweets --device cuda --steps 20 --batch-size 16

Training, per task: the same LoRA (r 16, all-linear, no dropout), data, batch order, seed and optimizer steps:
  plain recipe  HF Trainer, fp32, every example padded to --max-length, full-vocabulary logits at every
                position (the model's own loss over labels masked to the completion)
  toolkit       sft.train's SFTTrainer as it was before share_prefix: precision from sftbench_common/hardware.py (bf16
                where the hardware has it), dynamic padding, LM head only at the answer tokens
                (sft/speedups.py), SDPA attention
  eager         the same with attention=auto (eager on CPU: sft/models.py)
  shared prefix the same with share_prefix as well (the default now): each batch's common prompt prefix runs
                once (sft/shared_prefix.py)
  top 8 layers  the same with LoRA on the top 8 transformer layers only (lora_layers=8, as the default
                experiment trains): the backward pass stops at the lowest adapted layer
All five are timed over the same steps after a warm-up step, and each trained model is then evaluated
on the same held-out records (completion loss, fp32), so a speed-up that changed what is learned shows.
Scoring, on the first task's test records and one model (the default experiment's fine-tuned run if it
is there, else the model the toolkit just trained):
  plain recipe  one `generate` call per example (fp32), then the label parser
  toolkit       `score` mode (bench/generative.py): batched, the prompt prefix all examples share run once,
                each prompt's own tokens once for all labels, logits only where a label token is scored
Then the toolkit's training FLOP/s against the measured peak of a bf16 (or fp32) matmul here, and the most
examples/s score mode could reach at that peak; on a CPU, where score mode's time goes by operator (the matmuls'
share and FLOP/s, attention's, the rest's), and score mode over the whole test split with the prompts side by
side and as prefix trees (sft/prompt_tree.py: mushroom's pack, tweets' do not). Finally the frozen trunk computed
once (sft/trunk.py), on the first task, each with and without it and an empty cache at the start:
  a run         3 epochs of LoRA on the top 8 layers: the second and third run the upper layers only
  a group       9 runs (3 seeds x 3 learning rates, one epoch each) over the same records, as a sweep trains
  a benchmark   the base model zero-shot and 4-shot and 3 of the group's models in score mode: model by model,
                and with the base model's trunk pass shared
with the losses and predictions of both ways beside each ratio (`--parts trunk` measures these alone).

torch, datasets, peft and transformers load inside the functions (2-8 s to import; --help answers at once).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from bench.classification_rows import ClassificationJob
from bench.generative import generate_answers, load_for_inference, parse_label
from bench.rows import Row
from bench.run import demonstrations_for
from prompts.build import build_task, load_meta, load_split
from prompts.format import has_chat_template, prompt_text
from prompts.tasks import get_task
from sft import run_folders
from sft.config import build_config
from sft.experiment import load_experiment
from sft.label_scoring import common_prefix_length, completion_texts, prompt_ids, score_labels
from sft.models import load_tokenizer, resolve_model
from sft.prompt_tree import PACK_AT_MOST, TREE_ROWS, tree_plan
from sft.train import build_sft_trainer
from sft.trainer_args import lora_config
from sft.trunk import decoder_layers
from sftbench_common.errors import moved_to
from sftbench_common.hardware import describe_cpu, device_name, pick_precision, torch_dtype
from sftbench_common.logs import get_logger

log = get_logger(__name__)


def step_timer():
    """A TrainerCallback that records when each optimizer step ends (built on call: transformers is slow to load)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepTimer()


def lora_settings(args) -> dict:
    return dict(
        method="lora",
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        lr=2e-4,
        scheduler="constant",
        warmup_ratio=0.0,
        seed=42,
        batch_size=args.batch_size,
        max_steps=args.steps + 1,
        eval_limit=0,
        train_limit=(args.steps + 1) * args.batch_size,
        logging_steps=1,
        save_steps=10_000,
        max_length=args.max_length,
        epochs=1,
    )


def plain_trainer(config, records, tokenizer, model_path, device, scratch: Path):
    """The notebook recipe: fp32, pad to max_length, the model computes full logits and its own loss."""
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, default_data_collator

    completions = completion_texts(tokenizer, sorted({r["output"] for r in records}))

    def encode(record):
        prompt = tokenizer(prompt_text(record, tokenizer), add_special_tokens=not has_chat_template(tokenizer))[
            "input_ids"
        ]
        answer = tokenizer(completions[record["output"]], add_special_tokens=False)["input_ids"]
        ids = (prompt + answer)[: config.max_length]
        pad = config.max_length - len(ids)
        labels = ([-100] * len(prompt) + answer)[: config.max_length]
        return {
            "input_ids": ids + [tokenizer.pad_token_id] * pad,
            "attention_mask": [1] * len(ids) + [0] * pad,
            "labels": labels + [-100] * pad,
        }

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, use_safetensors=True)
    model = get_peft_model(model, lora_config(config))
    arguments = TrainingArguments(
        output_dir=str(scratch / "plain"),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr,
        lr_scheduler_type="constant",
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=False,
        fp16=False,
        use_cpu=device == "cpu",
        remove_unused_columns=False,
    )
    timer = step_timer()
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=Dataset.from_list([encode(r) for r in records]),
        data_collator=default_data_collator,
        callbacks=[timer],
    )
    return trainer, timer


def heldout_loss(model, tokenizer, records) -> float:
    """Mean completion loss (fp32, one example at a time, no padding) of a trained model."""
    import torch

    completions = completion_texts(tokenizer, sorted({r["output"] for r in records}))
    total, count = 0.0, 0
    model = model.float().eval()
    for record in records:
        prompt = prompt_ids(tokenizer, [record])[0]
        answer = tokenizer(completions[record["output"]], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + answer], device=next(model.parameters()).device)
        with torch.inference_mode():
            log_probs = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float().log_softmax(-1)
        total -= float(log_probs.gather(-1, ids[0, len(prompt) :, None]).sum())
        count += len(answer)
    return total / count


def matmul_peak(device: str, dtype) -> float:
    """FLOP/s of a large square matmul, the practical ceiling for training throughput here."""
    import torch

    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    repeats = 6 if device == "cpu" else 50
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - started)


TOP_LAYERS = 8  # the default experiment's lora_layers (configs/experiments/default.yaml)
TOP_PATH = f"top {TOP_LAYERS} layers"
# the toolkit's training paths, each the one before it plus one change
PATHS = {
    "toolkit": {"share_prefix": False, "attention": "sdpa"},
    "eager": {"share_prefix": False, "attention": "auto"},
    "shared prefix": {"share_prefix": True, "attention": "auto"},
    TOP_PATH: {"share_prefix": True, "attention": "auto", "lora_layers": TOP_LAYERS},
}


def train_each_way(args, task: str, resolved, device: str, scratch: Path) -> dict:
    """The plain recipe and the toolkit's paths (PATHS), on the same batches."""
    import torch

    build_task(get_task(task))
    config = build_config(({"task": task, "model": args.model, **lora_settings(args)}, "bench.speed"))
    train_records = load_split(task, "train")[: config.train_limit]
    heldout = load_split(task, "val")[: args.heldout]
    tokenizer = load_tokenizer(resolved)
    results = {}
    for name in ("plain", *PATHS):
        torch.manual_seed(config.seed)
        if name == "plain":
            trainer, timer = plain_trainer(config, train_records, tokenizer, resolved.path, device, scratch)
        else:
            run_config = dataclasses.replace(config, **PATHS[name])
            trainer = build_sft_trainer(run_config, resolved, Path(tempfile.mkdtemp(dir=scratch)))
            timer = step_timer()
            trainer.add_callback(timer)
        trainer.train()
        seconds = timer.ends[-1] - timer.ends[0]
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        results[name] = {
            "seconds": seconds,
            "trainer": trainer,
            "train_loss": losses[-1],
            "heldout": heldout_loss(trainer.model, tokenizer, heldout),
        }
    # All of them see the same batches, so the same real (unpadded) tokens: TRL counts them per step.
    # Padding to max_length is not counted as work done.
    history = results["toolkit"]["trainer"].state.log_history
    counted = [h["num_tokens"] for h in history if "num_tokens" in h and "loss" in h]
    timed_tokens = counted[-1] - counted[0]
    examples = args.steps * args.batch_size
    log.info(f"  {task}: {timed_tokens / args.steps:.0f} real tokens a step")
    for name, result in results.items():
        result["tokens_per_s"] = timed_tokens / result["seconds"]
        log.info(
            f"  {task:9s} {name:13s} train: {result['seconds'] / args.steps:6.2f} s/step, "
            f"{examples / result['seconds']:6.2f} examples/s, {result['tokens_per_s']:6.0f} tokens/s, "
            f"last-step loss {result['train_loss']:.4f}, held-out completion loss {result['heldout']:.4f}"
        )
    return results


def log_training_ratios(trained: dict, steps: int) -> None:
    for task, results in trained.items():
        seconds = {name: r["seconds"] for name, r in results.items()}
        log.info(
            f"{task}: train speedup of the shared prefix vs the toolkit before it "
            f"{seconds['toolkit'] / seconds['shared prefix']:.2f}x (eager attention "
            f"{seconds['toolkit'] / seconds['eager']:.2f}x, then sharing the prefix "
            f"{seconds['eager'] / seconds['shared prefix']:.2f}x), vs the plain recipe "
            f"{seconds['plain'] / seconds['shared prefix']:.1f}x; LoRA on the top {TOP_LAYERS} layers "
            f"{seconds['shared prefix'] / seconds[TOP_PATH]:.2f}x more; "
            f"held-out loss after {steps + 1} steps: "
            + ", ".join(f"{name} {r['heldout']:.4f}" for name, r in results.items())
        )


def scoring_model(args, task: str, trained_model, device: str):
    """The model the scoring lines use: the default experiment's fine-tuned run where it is finished here (a few
    steps of training leave a model whose answers are close to chance), else the model just trained."""
    import torch

    experiment = load_experiment("default")
    default = next((c for c in experiment.configs if c.task == task and c.model == args.model), None)
    run_dir = default.run_dir(experiment.root) if default else None
    if run_dir and run_folders.is_finished(run_dir) and run_folders.has_weights(run_dir):
        model, _ = load_for_inference(args.model, run_dir, dtype=torch.float32)
        log.info(f"  scoring with the fine-tuned run {run_dir}")
        return model.to(device)
    model = trained_model.merge_and_unload().float().eval().to(device)
    model.requires_grad_(True)  # see bench/generative.py: keeps the LM-head matmul on the fast path
    log.info("  scoring with the model trained above (no finished run of the default experiment)")
    return model


def measure_scoring(args, task: str, model, tokenizer, device: str) -> float:
    """Per-example generate (the plain recipe) against score mode on the same test records; returns the plain
    path's seconds per example."""

    labels = load_meta(task)["labels"]
    records = load_split(task, "test")[: args.score_examples]
    gold = [r["output"] for r in records]
    started = time.perf_counter()
    plain_answers = [
        generate_answers(model, tokenizer, [r], labels, batch_size=1, max_new_tokens=10, progress=False)[0]
        for r in records
    ]
    plain_seconds = time.perf_counter() - started
    plain_accuracy = sum(parse_label(a, labels) == g for a, g in zip(plain_answers, gold)) / len(records)
    model = model.to(torch_dtype(pick_precision(device=device)))
    started = time.perf_counter()
    scores = score_labels(model, tokenizer, records, labels, batch_size=16, progress=False)
    score_seconds = time.perf_counter() - started
    score_accuracy = sum(max(s, key=s.get) == g for s, g in zip(scores, gold)) / len(records)
    log.info(
        f"  plain    score: {len(records) / plain_seconds:6.2f} examples/s (generate + parse), "
        f"accuracy {plain_accuracy:.3f}"
    )
    log.info(
        f"  toolkit  score: {len(records) / score_seconds:6.2f} examples/s (score mode), accuracy {score_accuracy:.3f}"
    )
    log.info(f"score speedup vs per-example generate: {plain_seconds / score_seconds:.1f}x")
    return plain_seconds / len(records)


def measure_prompt_trees(task: str, model, tokenizer, device: str, examples: int) -> None:
    """Score mode over the task's test split (the first `examples` records; 0: all) with its prompts side by side
    and as prefix trees (sft/prompt_tree.py), in the toolkit's precision: the ratio, and how far the scores and
    predictions moved."""
    labels = load_meta(task)["labels"]
    records = load_split(task, "test")
    whole = len(records)
    records = records[: examples or None]
    prompts = prompt_ids(tokenizer, records)
    shared = common_prefix_length(prompts)
    _, share = tree_plan([p[shared:] for p in prompts])
    model = model.to(torch_dtype(pick_precision(device=device)))
    seconds, scores = {}, {}
    for pack in (False, True):
        started = time.perf_counter()
        scores[pack] = score_labels(model, tokenizer, records, labels, batch_size=16, progress=False, pack=pack)
        seconds[pack] = time.perf_counter() - started
    moved = max(abs(a[label] - b[label]) for a, b in zip(scores[False], scores[True]) for label in labels)
    same = sum(max(a, key=a.get) == max(b, key=b.get) for a, b in zip(scores[False], scores[True]))
    packed = "packed" if share <= PACK_AT_MOST else f"not packed: more than {PACK_AT_MOST:.0%}"
    log.info(
        f"{task}: prompt trees in score mode ({len(records)} of {whole} test records; trees of {TREE_ROWS} "
        f"hold {share:.0%} of the prompts' own tokens, {packed}): {seconds[False]:.1f} s -> {seconds[True]:.1f} s, "
        f"{seconds[False] / seconds[True]:.2f}x; predictions equal on {same} of {len(records)}, scores within "
        f"{moved:.1e}"
    )


def measure_utilisation(args, task: str, model, tokenizer, eager_tokens_per_s: float, plain_per_example: float, device):
    """The toolkit's training FLOP/s against the matmul peak here, and score mode's ceiling at that peak."""

    precision = pick_precision(device=device)
    body = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and "lm_head" not in n)
    # LoRA on a frozen base: forward 2N and input gradients 2N per token, no weight gradients for the base.
    # Measured without the shared prefix: that path skips work (the prefix runs once a batch), so its tokens/s
    # would overstate the FLOP/s the hardware delivers.
    achieved = 4 * body * eager_tokens_per_s
    peak = matmul_peak(device, torch_dtype(precision))
    log.info(
        f"training FLOP/s ({task}, eager, no sharing): {achieved / 1e9:.0f} GFLOP/s achieved "
        f"(4 x {body / 1e6:.0f}M params x tokens/s) vs "
        f"{peak / 1e9:.0f} GFLOP/s {precision} matmul peak: MFU {100 * achieved / peak:.0f}%"
    )
    # The ceiling of score mode here: even at the matmul peak, every token a prompt does not share with the
    # others has to go through the model once (2 x params FLOPs).
    records = load_split(task, "test")[: args.score_examples]
    prompts = prompt_ids(tokenizer, records)
    shared = common_prefix_length(prompts)
    own_tokens = sum(len(p) - shared for p in prompts) / len(prompts)
    ceiling = peak / (2 * body * own_tokens)
    log.info(
        f"score ceiling: {own_tokens:.0f} own prompt tokens per example ({shared} shared tokens run once); at the "
        f"matmul peak at most {ceiling:.1f} examples/s, {ceiling * plain_per_example:.1f}x the plain path"
    )
    if device == "cpu":  # on a GPU the profiler's CPU times are launch times, not the kernels'
        log_score_operators(task, model, tokenizer, records, peak)


MATMULS = ("aten::mm", "aten::addmm", "aten::bmm")


def log_score_operators(task: str, model, tokenizer, records: list[dict], peak: float) -> None:
    """Where score mode's time goes on the CPU, by operator (torch.profiler): the matmuls (their FLOP/s against the
    peak just measured), attention, and everything else. Matmuls at the peak mean the time is the work's own."""
    from torch.profiler import ProfilerActivity, profile

    labels = load_meta(task)["labels"]
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as profiler:
        started = time.perf_counter()
        score_labels(model, tokenizer, records, labels, batch_size=16, progress=False)
        seconds = time.perf_counter() - started
    events = profiler.key_averages()
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMULS) / 1e6
    flops = sum(e.flops for e in events if e.key in MATMULS)
    attention = sum(e.self_cpu_time_total for e in events if "attention" in e.key) / 1e6
    log.info(
        f"score mode by operator ({len(records)} {task} test records, profiled): {seconds:.1f} s, of which matmuls "
        f"{matmul:.1f} s ({100 * matmul / seconds:.0f}%; {flops / matmul / 1e9:.0f} GFLOP/s, "
        f"{100 * flops / matmul / peak:.0f}% of the peak), attention {attention:.1f} s "
        f"({100 * attention / seconds:.0f}%), the rest {seconds - matmul - attention:.1f} s"
    )


# ---------------------------------------------------------------- the frozen trunk computed once (sft/trunk.py)

GROUP_LRS = (5e-4, 1e-3, 2e-3)  # a sweep's three settings
GROUP_SEEDS = (42, 43, 44)


def trunk_run_config(args, task: str, **values):
    """A top-8-layer LoRA run as the default experiment trains mushroom, on `args.trunk_records` records, with an
    evaluation after each epoch on as many val records (a learning-curve point's budget: sft/run_groups.py)."""
    settings = {
        **lora_settings(args),
        "task": task,
        "model": args.model,
        "lora_layers": TOP_LAYERS,
        "train_limit": args.trunk_records,
        "eval_limit": args.trunk_records,
        "eval_steps": None,
        "max_steps": -1,
        "epochs": 1,
        "scheduler": "linear",
        **values,
    }
    return build_config((settings, "bench.speed"))


def train_runs(configs: list, resolved, cached: bool, folder: Path, scratch: Path) -> tuple[float, float, list]:
    """Train each config (from scratch, in this process) with the trunk cache in `folder` or off: (wall seconds,
    seconds in optimizer steps, each run's trainer)."""
    import torch

    wall = steps = 0.0
    trainers = []
    for config in configs:
        started = time.perf_counter()
        torch.manual_seed(config.seed)
        run_config = dataclasses.replace(config, trunk_cache=cached)
        run_dir = Path(tempfile.mkdtemp(dir=scratch))
        trainer = build_sft_trainer(run_config, resolved, run_dir, trunk_cache_folder=folder)
        timer = step_timer()
        trainer.add_callback(timer)
        step_started = time.perf_counter()
        trainer.train()
        steps += time.perf_counter() - step_started
        wall += time.perf_counter() - started
        trainers.append(trainer)
    return wall, steps, trainers


def losses_of(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def measure_trunk_training(args, task: str, resolved, scratch: Path) -> list:
    """A 3-epoch run, and a group of 9 runs (3 seeds x 3 learning rates, one epoch each, as a sweep at 3 seeds
    trains them), each with and without the trunk cache, an empty cache at the start; returns the group's cached
    trainers at the first seed (the benchmark measurement's fine-tuned models)."""
    epochs = trunk_run_config(args, task, epochs=3)
    plain = train_runs([epochs], resolved, False, scratch / "off", scratch)
    cached = train_runs([epochs], resolved, True, scratch / "epochs", scratch)
    same = max(abs(a - b) / abs(a) for a, b in zip(losses_of(plain[2][0]), losses_of(cached[2][0])))
    log.info(
        f"{task}: trunk cache, a 3-epoch run of {args.trunk_records} records (top {TOP_LAYERS} layers): "
        f"{plain[1]:.1f} s -> {cached[1]:.1f} s in training steps, {plain[1] / cached[1]:.2f}x "
        f"({plain[0] / cached[0]:.2f}x wall, model loading included); every logged loss equal within "
        f"{same:.1e} relative"
    )
    group = [trunk_run_config(args, task, lr=lr, seed=seed) for seed in GROUP_SEEDS for lr in GROUP_LRS]
    plain = train_runs(group, resolved, False, scratch / "off", scratch)
    cached = train_runs(group, resolved, True, scratch / "group", scratch)
    final = [(losses_of(a)[-1], losses_of(b)[-1]) for a, b in zip(plain[2], cached[2])]
    worst = max(abs(a - b) / abs(a) for a, b in final)
    log.info(
        f"{task}: trunk cache, a group of {len(group)} runs ({len(GROUP_SEEDS)} seeds x {len(GROUP_LRS)} learning "
        f"rates, 1 epoch of {args.trunk_records} records each): {plain[1]:.1f} s -> {cached[1]:.1f} s in "
        f"training steps, {plain[1] / cached[1]:.2f}x ({plain[0]:.0f} s -> {cached[0]:.0f} s wall, "
        f"{plain[0] / cached[0]:.2f}x); final losses equal within {worst:.1e} relative"
    )
    return cached[2][: len(GROUP_LRS)]


def measure_shared_trunk_bench(args, task: str, resolved, trainers: list, device: str, scratch: Path) -> None:
    """A task's score-mode benchmark, the base model zero-shot and 4-shot and 3 fine-tuned top-8 models, model by
    model and with the shared trunk; the same predictions."""
    meta = load_meta(task)
    records = load_split(task, "test")[: args.bench_examples]
    rows = [
        Row("base.score", task, args.model, "base", "", "score", "causal", 0),
        Row("base-4shot.score", task, args.model, "base", "", "score", "causal", 1, extra={"shots": 4}),
    ]
    for index, trainer in enumerate(trainers):
        run_dir = scratch / f"run{index}"
        trainer.save_model(str(run_dir / "adapter"))
        rows.append(
            Row(f"tuned{index}.score", task, args.model, "fine-tuned", "lora", "score", "causal", 2 + index, run_dir)
        )
    demonstrations = demonstrations_for(task, meta["labels"], [4])
    boundary = len(decoder_layers(trainers[0].model)) - TOP_LAYERS
    predicted, seconds, scoring = {}, {}, {}
    for shared in (False, True):
        job = ClassificationJob(
            records,
            len(records),
            [],
            meta,
            device,
            args.batch_size * 2,
            demonstrations,
            {args.model: boundary} if shared else {},
        )
        started = time.perf_counter()
        results = [job.compute(row) for row in rows]
        seconds[shared] = time.perf_counter() - started
        predicted[shared] = [result["predictions"] for result in results]
        scoring[shared] = sum(r["seconds"] for row, r in zip(rows, results) if not row.extra.get("shots"))
    largest = max(
        abs(a["scores"][label] - b["scores"][label])
        for row_a, row_b in zip(predicted[False], predicted[True])
        for a, b in zip(row_a, row_b)
        for label in a["scores"]
    )
    answers_equal = all(
        [p["predicted"] for p in a] == [p["predicted"] for p in b] for a, b in zip(predicted[False], predicted[True])
    )
    log.info(
        f"{task}: shared trunk in the benchmark ({len(records)} test records, score mode): base + {len(trainers)} "
        f"fine-tuned top-{TOP_LAYERS} models {scoring[False]:.1f} s -> {scoring[True]:.1f} s scoring, "
        f"{scoring[False] / scoring[True]:.2f}x; with the 4-shot row and loading the models {seconds[False]:.1f} s "
        f"-> {seconds[True]:.1f} s, {seconds[False] / seconds[True]:.2f}x; predictions "
        f"{'equal' if answers_equal else 'DIFFERENT'}, scores within {largest:.1e}"
    )


PARTS = ("paths", "scoring", "trunk")


def measure_speed(args) -> None:
    """`sftbench speed`: `args` holds model, tasks, device, steps, batch_size, max_length, score_examples, heldout,
    trunk_records, bench_examples, tree_examples and parts (which of PARTS to measure)."""
    device = device_name(args.device)
    resolved = resolve_model(args.model)
    log.info(
        f"speed: {args.model} on {', '.join(args.tasks)}, device {device}"
        f"{', CPU ' + describe_cpu() if device == 'cpu' else ''}, toolkit precision "
        f"{pick_precision(device=device)}, {args.steps} timed steps of batch {args.batch_size} after 1 warm-up step"
    )
    task = args.tasks[0]
    tokenizer = load_tokenizer(resolved)
    with tempfile.TemporaryDirectory(prefix="sftbench-speed-") as folder:  # every run's files, gone afterwards
        measure_parts(args, task, resolved, tokenizer, device, Path(folder))


def measure_parts(args, task: str, resolved, tokenizer, device: str, scratch: Path) -> None:
    if "paths" in args.parts or "scoring" in args.parts:
        trained = {t: train_each_way(args, t, resolved, device, scratch) for t in args.tasks}
        log_training_ratios(trained, args.steps)
        if "scoring" in args.parts:
            model = scoring_model(args, task, trained[task]["shared prefix"]["trainer"].model, device)
            plain_per_example = measure_scoring(args, task, model, tokenizer, device)
            eager = trained[task]["eager"]["tokens_per_s"]
            measure_utilisation(args, task, model, tokenizer, eager, plain_per_example, device)
            measure_prompt_trees(task, model, tokenizer, device, args.tree_examples)
    if "trunk" in args.parts:
        build_task(get_task(task))
        trainers = measure_trunk_training(args, task, resolved, scratch)
        measure_shared_trunk_bench(args, task, resolved, trainers, device, scratch)


if __name__ == "__main__":
    moved_to("sftbench speed")
