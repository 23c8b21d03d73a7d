"""Shared-prefix training: the prompt text every example of a batch begins with runs through the model once.

On a classification task each training sequence starts with the same tokens (chat template, system prompt,
instruction): 47 of a mushroom example's ~145, 45 of a tweet's ~75. The plain path runs them, forward and
backward, once per example. Here a batch's common prefix runs once (batch size 1) and keeps its KV cache;
the cache is repeated to the batch, and each example's own tokens (the rest of its prompt and its answer)
run on top of it with the attention mask of the whole sequence and positions that continue the prefix's.
The backward pass sums every example's gradient into the one prefix computation, so LoRA on every linear
layer still trains the projections the prefix runs through: loss and gradients are the plain path's up to
floating-point rounding (tests/test_sft_shared_prefix.py compares them).

The prefix is cut where no label is scored: every position in it is prompt (label -100), and its last
position's prediction, which the rest would need for its first label, is not supervised either. Training
falls back to the plain path, saying why once, where that gains nothing or would change what is computed:
batches with nothing in common or a single example (domain text, padding-free batches), activation
checkpointing (the checkpointed layers drop the cache), dropout in training (one prefix would share one
dropout mask across the batch), MoE router losses, or a model whose forward returns no cache.

torch loads inside the functions (seconds to import; --help answers at once).
"""

from __future__ import annotations

import functools
import types

from sftbench_common.logs import get_logger

log = get_logger(__name__)

MIN_SHARED_TOKENS = 8  # below this the extra forward call costs more than the tokens it saves


def shared_prefix_length(input_ids, attention_mask, labels) -> int:
    """How many leading tokens of this batch can run once for all its rows (0: none worth sharing).

    Positions qualify while every row holds the same real token there and no label is scored; the last of
    them stays with the rest, since its hidden state predicts the first label after the prefix."""
    if input_ids.size(0) < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(0) & attention_mask.bool().all(0) & (labels == -100).all(0)
    common = int(same.int().cumprod(0).sum())
    length = common - 1
    return length if length >= MIN_SHARED_TOKENS else 0


def reason_not_to_share(model, training_args) -> str | None:
    """Why this model can never take the shared-prefix path in training (None: it can)."""
    import torch

    text_config = model.config.get_text_config()
    if getattr(model, "is_activation_checkpointing", False) or training_args.gradient_checkpointing:
        return "activation checkpointing drops the KV cache the prefix would hand on"
    dropout = max(
        [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
        + [float(getattr(text_config, "attention_dropout", 0.0) or 0.0)]
    )
    if dropout > 0:
        return (
            f"dropout p={dropout:g} is active in training, and a prefix run once would share one dropout mask "
            f"across the batch (set lora_dropout=0 on a model without dropout of its own to share it)"
        )
    if getattr(text_config, "output_router_logits", False):
        return "the MoE router loss would count the prefix once instead of once per example"
    if getattr(text_config, "is_encoder_decoder", False):
        return "an encoder-decoder model has no causal prefix to share"
    return None


class SharedPrefixForward:
    """Wraps a causal LM's (TRL fused-LM-head) forward: with `shared_prefix_length=N` the first N tokens run
    once and reach every row through the KV cache. Without it, or when the model returns no cache, the
    forward is the plain one."""

    def __init__(self, model):
        self.model = model
        self.forward = model.forward
        self.cache_missing = False

    def __call__(self, *args, shared_prefix_length: int = 0, **kwargs):
        import torch

        if not shared_prefix_length or not kwargs.get("fused_lm_head") or args or self.cache_missing:
            return self.forward(*args, **kwargs)
        input_ids, labels = kwargs["input_ids"], kwargs["labels"]
        prefix = self.model.base_model(input_ids=input_ids[:1, :shared_prefix_length], use_cache=True)
        cache = getattr(prefix, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            self.cache_missing = True
            say_once(self, f"share_prefix: {type(self.model).__name__} returns no KV cache; training the plain way")
            return self.forward(*args, **kwargs)
        cache.batch_repeat_interleave(input_ids.size(0))  # a copy per row; backward sums the rows' gradients
        rest = {**kwargs, "input_ids": input_ids[:, shared_prefix_length:], "labels": labels[:, shared_prefix_length:]}
        if kwargs.get("position_ids") is not None:
            rest["position_ids"] = kwargs["position_ids"][:, shared_prefix_length:]
        else:  # the positions the plain path gives these tokens (right padding: 0..L-1 on every row)
            rest["position_ids"] = torch.arange(
                shared_prefix_length, input_ids.size(1), device=input_ids.device
            ).expand(input_ids.size(0), -1)
        return self.forward(past_key_values=cache, **rest)


def add_shared_prefix(model) -> None:
    """Give `model` (the one TRL patched with its fused LM head) the `shared_prefix_length` forward argument."""
    wrapper = SharedPrefixForward(model)

    def forward(self, *args, **kwargs):
        return wrapper(*args, **kwargs)

    # as TRL's own patch: `generate` checks its keyword arguments against the model class's signature
    model.forward = types.MethodType(functools.wraps(type(model).forward)(forward), model)


def say_once(owner, message: str) -> None:
    if not getattr(owner, "_said", False):
        log.info(message)
    owner._said = True


class SharedPrefixMixin:
    """Mixed into TRL's SFTTrainer (sft/train.py `sft_trainer_class`): every training and evaluation batch runs
    its shared prefix once."""

    def __init__(self, *args, **kwargs):
        from peft import PeftModel

        super().__init__(*args, **kwargs)
        lm = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        add_shared_prefix(lm)
        self.prefix_off_in_training = reason_not_to_share(lm, self.args)
        if self.prefix_off_in_training:
            say_once(self, f"share_prefix: off in training: {self.prefix_off_in_training}")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        length = 0
        if not (model.training and self.prefix_off_in_training) and "attention_mask" in inputs:
            length = shared_prefix_length(inputs["input_ids"], inputs["attention_mask"], inputs["labels"])
            if model.training and not self.prefix_off_in_training:
                say_once(
                    self,
                    f"share_prefix: each batch's common prompt prefix ({length} tokens in the first) runs once"
                    if length
                    else "share_prefix: the first batch shares no prompt prefix; its rows run the plain way",
                )
        if length:
            inputs = {**inputs, "shared_prefix_length": length}
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
