"""Small, measured fixes to library defaults that cost a lot on CPU (see bench/speed.py for the numbers).

TRL's fused LM head projects only the supervised positions through the vocabulary on Triton devices, but
scores every position elsewhere (to keep tile shapes fixed for compilers such as Neuron). On a CPU that
means full-vocabulary log-probs for every prompt token, about half the time of a LoRA step on SmolLM2,
to compute a loss that ignores them. The compact path is plain torch and exact on CPU, so use it there.
"""

from __future__ import annotations


def score_only_supervised_positions_on_cpu() -> None:
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "_sftbench_patched", False):
        return

    def use_compact(device) -> bool:
        return device.type == "cpu" or original(device)

    use_compact._sftbench_patched = True
    trl_utils._use_triton = use_compact
