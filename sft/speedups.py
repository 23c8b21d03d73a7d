"""Small, measured fixes to library defaults that cost a lot on CPU (see bench/speed.py for the numbers).

TRL's fused LM head projects only the supervised positions through the vocabulary on Triton devices, but
scores every position elsewhere (to keep tile shapes fixed for compilers such as Neuron). On a CPU that
means full-vocabulary log-probs for every prompt token, about half the time of a LoRA step on SmolLM2,
to compute a loss that ignores them. The compact path is plain torch and exact on CPU, so use it there.


This leans on a private TRL function, `trl.trainer.utils._use_triton`; tests/test_sft_speedups.py fails, naming
the TRL version, when an upgrade removes it or stops calling it, and a run here says so in a warning.
"""

from __future__ import annotations

from sftbench_common.logs import get_logger

log = get_logger(__name__)


def score_only_supervised_positions_on_cpu() -> None:
    import trl
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        log.warning(
            f"TRL {trl.__version__} has no trl.trainer.utils._use_triton: the LM head projects every position on "
            f"CPU (slower training); sft/speedups.py needs updating for this TRL"
        )
        return
    if getattr(original, "_sftbench_patched", False):
        return

    def use_compact(device) -> bool:
        return device.type == "cpu" or original(device)

    use_compact._sftbench_patched = True
    trl_utils._use_triton = use_compact
