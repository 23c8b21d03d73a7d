"""`make gpu-check` is ready for a GPU machine: here (no CUDA) it says so and exits 0; its list names every path."""

import subprocess
import sys

from tests.helpers import REPO


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/gpu_check.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_without_cuda_it_says_so_and_exits_0():
    done = check()
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        done.stdout.strip() == "gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing to check"
    )


def test_its_paths_cover_lora_qlora_both_precisions_modes_launch_and_speed():
    listed = check("--list").stdout.splitlines()
    assert len(listed) == 8
    text = "\n".join(listed)
    for needed in ("method=qlora precision=bf16", "method=qlora precision=fp16", "method=lora precision=fp16",
                   "bench --experiment", "accelerate.commands.launch", "speed --device cuda"):  # fmt: skip
        assert needed in text, needed
