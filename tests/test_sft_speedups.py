"""The private TRL hooks the speed paths stand on are still there: when a TRL upgrade removes or stops calling
them, these fail and name the TRL version, instead of training quietly switching to the slow path."""

import inspect

import torch
import trl
import trl.trainer.sft_trainer
import trl.trainer.utils

from sft.speedups import score_only_supervised_positions_on_cpu


def test_the_compact_lm_head_hook_is_there_and_patched_on_cpu():
    hook = getattr(trl.trainer.utils, "_use_triton", None)
    assert callable(hook), f"TRL {trl.__version__}: trl.trainer.utils._use_triton is gone; update sft/speedups.py"
    source = inspect.getsource(trl.trainer.utils)
    assert "compact = _use_triton(" in source, (
        f"TRL {trl.__version__}: the fused LM head no longer asks _use_triton whether to score only the "
        f"supervised positions; sft/speedups.py's patch has no effect: update it"
    )
    score_only_supervised_positions_on_cpu()
    assert trl.trainer.utils._use_triton(torch.device("cpu")) is True


def test_sft_trainer_still_calls_the_model_with_fused_lm_head():
    """sft/shared_prefix.py's forward takes the shared path only for TRL's fused-LM-head calls."""
    source = inspect.getsource(trl.trainer.sft_trainer.SFTTrainer.compute_loss)
    assert "fused_lm_head=True" in source or '"fused_lm_head": True' in source, (
        f"TRL {trl.__version__}: SFTTrainer.compute_loss no longer passes fused_lm_head=True, so shared-prefix "
        f"training would silently run the plain way: update sft/shared_prefix.py"
    )
