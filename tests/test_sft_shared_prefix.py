"""Shared-prefix training (sft/shared_prefix.py) computes what the plain path computes, on real batches of
mushroom and tweets with the packaged SmolLM2, and steps aside where it cannot."""

import pytest
import torch

from prompts.build import build_task
from prompts.tasks import get_task
from sft.config import build_config
from sft.models import resolve_model
from sft.shared_prefix import shared_prefix_length
from sft.train import build_sft_trainer

pytestmark = pytest.mark.slow


def trainer_for(task, folder, **overrides):
    build_task(get_task(task))
    values = {
        "task": task,
        "model": "smollm2-135m-instruct",
        "method": "lora",
        "preset": "cpu-fast",
        "precision": "fp32",
        "train_limit": 16,
        "eval_limit": 0,
        "batch_size": 8,
        **overrides,
    }
    config = build_config((values, "test"))
    return build_sft_trainer(config, resolve_model(config.model), folder)


def backbone_batches(trainer):
    """The (batch, length) of every backbone call, recorded while the list is alive."""
    shapes = []
    backbone = trainer.model.get_base_model().base_model
    hook = backbone.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return shapes, hook


def loss_and_lora_grads(trainer, batch, shared: bool):
    model = trainer.model
    model.zero_grad()
    if shared:
        loss = trainer.compute_loss(model, dict(batch))
    else:
        loss = model(**batch, fused_lm_head=True).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("task", ["mushroom", "tweets"])
def test_shared_prefix_gives_the_plain_loss_and_lora_gradients(task, tmp_path):
    trainer = trainer_for(task, tmp_path)
    torch.manual_seed(0)
    for name, parameter in trainer.model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero, which would leave every lora_A gradient zero in both paths
            parameter.data.normal_(0, 0.02)
    batch = next(iter(trainer.get_train_dataloader()))
    length = shared_prefix_length(batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert length >= 40  # chat template, system prompt and instruction
    trainer.model.train()

    shapes, hook = backbone_batches(trainer)
    plain_loss, plain_grads = loss_and_lora_grads(trainer, batch, shared=False)
    assert shapes == [tuple(batch["input_ids"].shape)]
    shapes.clear()
    shared_loss, shared_grads = loss_and_lora_grads(trainer, batch, shared=True)
    hook.remove()
    width = batch["input_ids"].shape[1]
    assert shapes == [(1, length), (8, width - length)]  # the prefix once, then each row's own tokens

    assert shared_loss == pytest.approx(plain_loss, rel=1e-5)
    assert shared_grads.keys() == plain_grads.keys() and len(plain_grads) > 100
    worst = max((shared_grads[n] - g).norm() / g.norm() for n, g in plain_grads.items())
    assert worst < 1e-4
    # the prefix's share of the gradient flows back through the cache: the first layer's projections (which
    # see the prefix only as keys/values for later tokens in the rest) get the same gradient as plain
    query = next(n for n in plain_grads if "layers.0.self_attn.k_proj.lora_A" in n)
    assert plain_grads[query].norm() > 0


def test_training_steps_log_the_plain_losses(tmp_path):
    losses = {}
    for share in (False, True):
        trainer = trainer_for("tweets", tmp_path / str(share), share_prefix=share, max_steps=3, logging_steps=1)
        trainer.train()
        losses[share] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses[True]) == 3
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_where_nothing_is_shared_the_plain_path_runs(tmp_path, capsys):
    ids = torch.tensor([[5, 6, 7] * 8 + [1, 2], [5, 6, 7] * 8 + [3, 4]])
    prompt_only = torch.full_like(ids, -100)
    prompt_only[:, -1] = ids[:, -1]
    mask = torch.ones_like(ids)
    assert shared_prefix_length(ids, mask, prompt_only) == 23  # 24 in common, the last stays with the rest
    assert shared_prefix_length(ids[:1], mask[:1], prompt_only[:1]) == 0  # one row: nothing to share
    assert shared_prefix_length(ids, mask, ids) == 0  # language modelling: every token is scored
    assert shared_prefix_length(ids[:, 3:], mask[:, 3:], prompt_only[:, 3:]) == 20
    assert shared_prefix_length(ids[:, 18:], mask[:, 18:], prompt_only[:, 18:]) == 0  # below MIN_SHARED_TOKENS

    trainer = trainer_for("mushroom", tmp_path, lora_dropout=0.1)
    assert "dropout p=0.1" in capsys.readouterr().out
    batch = next(iter(trainer.get_train_dataloader()))
    shapes, hook = backbone_batches(trainer)
    trainer.model.train()
    trainer.compute_loss(trainer.model, dict(batch))
    trainer.model.eval()
    with torch.no_grad():
        trainer.compute_loss(trainer.model, dict(batch))
    hook.remove()
    assert [s[0] for s in shapes] == [8, 1, 8]  # training: plain; evaluation (no dropout): shared
