"""The encoder path (packaged MiniLM) and lora-head on a generative model, on real task records."""

import json

import pytest

from bench.classifier import evaluate_run
from prompts.build import load_meta
from sft.config import build_config
from sft.models import resolve_model
from sft.train import train
from sft.train_classifier import build_classifier_trainer
from sftbench_common.errors import UserError

pytestmark = pytest.mark.slow


def encoder_config(**overrides):
    values = {
        "task": "mushroom",
        "model": "minilm-l6",
        "method": "full",
        "train_limit": 128,
        "eval_limit": 32,
        "batch_size": 16,
        "epochs": 2,
        "lr": 2e-4,
        "max_length": 128,
        "logging_steps": 2,
        "save_steps": 1000,
        **overrides,
    }
    return build_config((values, "test"))


def losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row], rows


def test_encoder_full_finetune_learns_and_predicts_labels(isolated_outputs):
    run_dir = train(encoder_config())
    train_losses, rows = losses(run_dir)
    assert train_losses[-1] < train_losses[0] * 0.7, train_losses
    assert any("eval_label_accuracy" in row and "eval_macro_f1" in row for row in rows)
    assert (run_dir / "model" / "model.safetensors").is_file()
    result = evaluate_run(run_dir, "test")
    assert result["valid"] and set(result["predicted"]) <= set(load_meta("mushroom")["labels"])
    assert result["examples"] == 813 and result["accuracy"] > 0.8


def test_encoder_lora_targets_attention_and_trains_head(isolated_outputs):
    config = encoder_config(method="lora", lr=1e-3)
    trainer = build_classifier_trainer(config, resolve_model("minilm-l6"), isolated_outputs / "lora")
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert any("query.lora_A" in n for n in trainable) and any("value.lora_A" in n for n in trainable)
    assert not any("key.lora_A" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    result = trainer.train()
    assert result.training_loss > 0


def test_lora_head_on_a_generative_model(isolated_outputs):
    config = encoder_config(
        model="smollm2-135m-instruct",
        method="lora-head",
        train_limit=32,
        epochs=1,
        batch_size=8,
        lr=5e-4,
        max_length=256,
    )
    run_dir = train(config)
    train_losses, _ = losses(run_dir)
    assert train_losses[-1] < train_losses[0], train_losses
    result = evaluate_run(run_dir, "val", limit=32)
    assert result["valid"] and result["examples"] == 32


def test_method_model_mismatch_fails_before_anything_is_written(isolated_outputs):
    """qlora or lora-head on an encoder: one clear error, and no run folder (no run.json saying "running")."""
    for method, message in (("lora-head", "is an encoder"), ("qlora", "qlora is for generative models")):
        config = encoder_config(method=method)
        with pytest.raises(UserError, match=message):
            train(config)
        assert not config.run_dir(isolated_outputs / "results").exists()
        assert not (isolated_outputs / "results").exists()


def test_single_class_file_is_refused_before_training(isolated_outputs, tmp_path):
    single = tmp_path / "single.csv"
    single.write_text("text,label\na,pos\nb,pos\nc,pos\n")
    config = encoder_config(task=f"csv:{single}", task_options={"text_column": "text"})
    with pytest.raises(UserError, match="only one label"):
        train(config)
    declared = tmp_path / "declared.csv"
    declared.write_text("text,label\n" + "".join(f"t{i},pos\n" for i in range(6)))
    config = encoder_config(task=f"csv:{declared}", task_options={"text_column": "text", "labels": "neg,pos"})
    with pytest.raises(UserError, match=r"\['neg'\] have no training example"):
        train(config)
    assert not (isolated_outputs / "results").exists()
