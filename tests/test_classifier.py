"""The encoder path (packaged MiniLM) and lora-head on a generative model, on real task records."""
import json

import pytest

from bench.classifier import evaluate_run
from prompts.build import load_meta
from sft.config import build_config
from sft.errors import UserError
from sft.train import train

pytestmark = pytest.mark.slow


def encoder_config(**overrides):
    values = {"task": "mushroom", "model": "minilm-l6", "method": "full", "train_limit": 128, "eval_limit": 32,
              "batch_size": 16, "epochs": 2, "lr": 2e-4, "max_length": 128, "logging_steps": 2, "save_steps": 1000,
              **overrides}
    return build_config((values, "test"))


def losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row], rows


def test_encoder_full_finetune_learns_and_predicts_labels(isolated_outputs):
    run_dir = train(encoder_config())
    train_losses, rows = losses(run_dir)
    assert train_losses[-1] < train_losses[0] * 0.7, train_losses
    assert any("eval_accuracy" in row for row in rows)
    assert (run_dir / "model" / "model.safetensors").is_file()
    result = evaluate_run(run_dir, "test")
    assert result["valid"] and set(result["predicted"]) <= set(load_meta("mushroom")["labels"])
    assert result["examples"] == 813 and result["accuracy"] > 0.8


def test_encoder_lora_targets_attention_and_trains_head(isolated_outputs):
    from sft.models import resolve_model
    from sft.train_classifier import build_classifier_trainer

    config = encoder_config(method="lora", lr=1e-3)
    trainer = build_classifier_trainer(config, resolve_model("minilm-l6"), isolated_outputs / "lora")
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert any("query.lora_A" in n for n in trainable) and any("value.lora_A" in n for n in trainable)
    assert not any("key.lora_A" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    result = trainer.train()
    assert result.training_loss > 0


def test_lora_head_on_a_generative_model(isolated_outputs):
    config = encoder_config(model="smollm2-135m-instruct", method="lora-head", train_limit=32, epochs=1,
                            batch_size=8, lr=5e-4, max_length=256)
    run_dir = train(config)
    train_losses, _ = losses(run_dir)
    assert train_losses[-1] < train_losses[0], train_losses
    result = evaluate_run(run_dir, "val")
    assert result["valid"] and result["examples"] == 813


def test_method_model_mismatch_is_a_clear_error():
    from sft.models import resolve_model
    from sft.train_classifier import build_classifier_trainer

    with pytest.raises(UserError, match="is an encoder"):
        build_classifier_trainer(encoder_config(method="lora-head"), resolve_model("minilm-l6"), None)
    with pytest.raises(UserError, match="qlora is for generative models"):
        build_classifier_trainer(encoder_config(method="qlora"), resolve_model("minilm-l6"), None)
