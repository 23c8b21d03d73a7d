"""Generative fine-tuning on real mushroom records with the packaged SmolLM2: masking, learning, QLoRA, resume."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bench.generative import load_for_inference
from prompts.build import build_task, load_split
from prompts.tasks import get_task
from sft.config import build_config
from sft.label_scoring import best_labels, label_metrics, score_labels
from sft.models import resolve_model
from sft.train import build_sft_trainer, train
from sftbench_common.hardware import torch_dtype
from tests.helpers import QUICK_LORA, REPO

pytestmark = pytest.mark.slow


def tiny_config(**overrides):
    values = {
        "task": "mushroom",
        "model": "smollm2-135m-instruct",
        "method": "lora",
        "train_limit": 16,
        "eval_limit": 4,
        "batch_size": 4,
        "epochs": 1,
        "lr": 1e-3,
        "max_length": 256,
        "logging_steps": 1,
        "save_steps": 1000,
        "lora_dropout": 0.0,  # as the presets: so these runs train on the shared-prefix path (sft/shared_prefix.py)
        **overrides,
    }
    return build_config((values, "test"))


def test_only_completion_tokens_carry_labels(tmp_path):
    config = tiny_config()
    trainer = build_sft_trainer(config, resolve_model(config.model), tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = trainer.processing_class
    for input_ids, labels in zip(batch["input_ids"], batch["labels"]):
        supervised = labels[labels != -100]
        answer = tokenizer.decode(supervised)
        assert answer in ("edible<|im_end|>\n", "poisonous<|im_end|>\n"), answer
        # the supervised tokens are exactly the tail of the real (unpadded) sequence: the assistant's answer
        real = input_ids[: int((labels != -100).nonzero().max()) + 1]
        assert torch.equal(real[-len(supervised) :], supervised)
        assert tokenizer.eos_token_id in supervised.tolist()  # EOS is learned, not masked as padding
        prompt = tokenizer.decode(real[: len(real) - len(supervised)])
        assert prompt.endswith("<|im_start|>assistant\n") and "edible or poisonous" in prompt


def test_lora_training_lowers_the_loss_and_writes_the_run(isolated_outputs):
    # the default experiment's LoRA: the top 8 layers (lora_layers=8); all layers are trained by the tests below
    config = tiny_config(train_limit=32, epochs=2, batch_size=8, lora_layers=8, max_length=128)
    run_dir = train(config)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if "loss" in row]
    assert len(losses) >= 6
    assert sum(losses[-2:]) / 2 < 0.5 * losses[0], losses
    assert any("eval_loss" in row for row in log)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["global_step"] == 8 and run["precision"] in ("bf16", "fp32")
    adapted = {
        int(key.split(".layers.")[1].split(".")[0])
        for key in load_file(run_dir / "adapter" / "adapter_model.safetensors")
    }
    assert adapted == set(range(22, 30))  # the top 8 of SmolLM2's 30 layers
    assert (run_dir / "adapter" / "tokenizer_config.json").is_file()
    assert "method: lora" in (run_dir / "config.yaml").read_text()
    assert str(run_dir).endswith("runs/mushroom/smollm2-135m-instruct-lora")
    started = time.time()
    assert train(config) == run_dir and time.time() - started < 1  # finished: skipped
    shutil.rmtree(run_dir / "adapter")  # what a fresh clone has: the committed record, not the weights
    assert train(config) == run_dir and (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_qlora_step_on_cpu(tmp_path):
    pytest.importorskip("bitsandbytes")
    config = tiny_config(method="qlora", train_limit=4, max_steps=1, eval_limit=0, output_dir=str(tmp_path / "q"))
    trainer = build_sft_trainer(config, resolve_model(config.model), tmp_path / "q")
    assert any("4bit" in type(m).__name__ for m in trainer.model.modules())
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
    assert any(not torch.equal(a, p.detach()) for a, p in zip(before, trainable))


def test_killed_run_resumes_from_its_checkpoint_and_its_record_is_the_uninterrupted_runs(isolated_outputs):
    """SIGKILL after checkpoint-6 of 12 steps, the same command again: it resumes, and its log lines (loss over the
    window that straddles the checkpoint, tokens counted, learning rate) and run.json's train_loss equal an
    uninterrupted run's."""
    args = [
        "task=mushroom",
        "model=smollm2-135m-instruct",
        "method=lora",
        "train_limit=48",
        "eval_limit=0",
        "batch_size=4",
        "epochs=1",
        "save_steps=3",
        "logging_steps=4",  # the log at step 8 averages steps 5-8: two before the checkpoint, two after
        *QUICK_LORA,
        "lora_dropout=0",  # trains on the shared-prefix path, which must resume like the plain one
    ]
    command = [sys.executable, "-m", "sftbench", "train", *args, "run_name=killed"]
    runs = isolated_outputs / "results" / "runs" / "mushroom"
    run_dir = runs / "killed"
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "checkpoint-6" / "sftbench_record.json").is_file():
        assert process.poll() is None and time.time() < deadline, "training ended before its checkpoint"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout and "from checkpoint-" in done.stdout
    assert "share_prefix: each batch's common prompt prefix" in done.stdout
    whole = subprocess.run(command[:-1] + ["run_name=whole"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]
    resumed, uninterrupted = (json.loads((runs / name / "run.json").read_text()) for name in ("killed", "whole"))
    assert resumed["status"] == "finished" and resumed["global_step"] == 12 and resumed["attempts"] == 2
    assert resumed["resumed_from_step"] >= 6 and "resumed_from_step" not in uninterrupted
    assert resumed["train_loss"] == pytest.approx(uninterrupted["train_loss"], rel=1e-5)
    logs = {
        name: [json.loads(line) for line in (runs / name / "train_log.jsonl").read_text().splitlines()]
        for name in ("killed", "whole")
    }
    steps = [row["step"] for row in logs["killed"] if "loss" in row]
    assert steps == sorted(set(steps)) == [1, 4, 8, 12], "resumed steps were logged twice"
    compared = ("step", "loss", "num_tokens", "learning_rate", "mean_token_accuracy", "epoch")
    for killed, kept in zip(logs["killed"], logs["whole"], strict=True):
        for key in compared:
            if key in kept:
                assert killed[key] == pytest.approx(kept[key], rel=1e-5), (key, killed, kept)
        if "train_loss" in kept:
            assert killed["train_loss"] == pytest.approx(kept["train_loss"], rel=1e-5)


def test_same_seed_and_config_train_the_same_model(isolated_outputs):
    """Reproducibility: two runs of one config log the same losses and save the same adapter weights."""
    adapters, losses = [], []
    for attempt in ("a", "b"):
        run_dir = train(tiny_config(train_limit=12, eval_limit=0, output_dir=str(isolated_outputs / attempt)))
        log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
        losses.append([row["loss"] for row in log if "loss" in row])
        adapters.append(load_file(run_dir / "adapter" / "adapter_model.safetensors"))
    assert losses[0] == losses[1] and len(losses[0]) == 3
    assert adapters[0].keys() == adapters[1].keys()
    assert all(torch.equal(adapters[0][k], adapters[1][k]) for k in adapters[0])


def test_evaluations_log_label_accuracy_to_jsonl_and_tensorboard(lora_run):
    """Every evaluation scores the val records as the benchmark does and logs it beside eval_loss, in the
    JSONL log and in TensorBoard's event files (read back with TensorBoard's own reader)."""
    config, run_dir = lora_run
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    evals = [row for row in log if "eval_loss" in row]
    assert [row["step"] for row in evals] == [3, 6]
    assert all({"eval_label_accuracy", "eval_macro_f1", "eval_label_seconds"} <= set(row) for row in evals)
    # the best evaluation by label accuracy chose the final model; the benchmark's score mode agrees with it
    run = json.loads((run_dir / "run.json").read_text())
    best = max(evals, key=lambda row: row["eval_label_accuracy"])
    assert run["metric_for_best_model"] == "label_accuracy" and run["best_metric"] == best["eval_label_accuracy"]
    assert run["best_step"] == best["step"]
    build_task(get_task("mushroom"))
    records = load_split("mushroom", "val")[: config.eval_limit]
    model, tokenizer = load_for_inference(config.model, run_dir, dtype=torch_dtype(run["precision"]))
    scores = score_labels(model, tokenizer, records, ["edible", "poisonous"], progress=False)
    again = label_metrics(best_labels(scores), [r["output"] for r in records], ["edible", "poisonous"])
    assert abs(again["label_accuracy"] - best["eval_label_accuracy"]) <= 1 / len(records)

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "eval/loss", "eval/label_accuracy", "eval/macro_f1"} <= set(tags)
    train_losses = [row["loss"] for row in log if "loss" in row]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(train_losses, rel=1e-5)
    assert [e.value for e in events.Scalars("eval/label_accuracy")] == pytest.approx(
        [row["eval_label_accuracy"] for row in evals]
    )
