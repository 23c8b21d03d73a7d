"""Device and precision, chosen explicitly per hardware (TRL's own default of bf16=True must not decide).

bf16 on CPUs with AVX-512 BF16 or AMX (about 4x a fp32 matmul) and on Ampere+ GPUs; fp16 on older GPUs
such as Colab's T4, which only emulates bf16 (slowly); fp32 otherwise. SFTBENCH_CPU_BF16=0 makes a CPU
with bf16 behave as one without (and =1 the reverse), for every command: what a machine of the other kind
would run, e.g. to time the default experiment in fp32.

torch loads inside the functions that need it (2 s to import; the command-line tools import this module).
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path


def cpu_has_bf16() -> bool:
    forced = os.environ.get("SFTBENCH_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return cpu_flags_have_bf16()


@lru_cache(maxsize=1)
def cpu_flags() -> set[str]:
    """The CPU's feature flags as lscpu lists them (empty where /proc/cpuinfo is not there)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return set()
    line = next((line for line in cpuinfo.read_text(errors="ignore").splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_flags_have_bf16() -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


# the flags that decide CPU matmul speed, as a timing should name them
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")


def describe_cpu() -> str:
    """'AVX2 kernels (flags: avx2 fma)': the vector flags this CPU has and the kernels torch runs on it
    (ATEN_CPU_CAPABILITY=avx2 makes an AVX-512 machine run the AVX2 ones)."""
    import torch

    present = " ".join(flag for flag in VECTOR_FLAGS if flag in cpu_flags()) or "none of " + ", ".join(VECTOR_FLAGS)
    return f"{torch.backends.cpu.get_cpu_capability()} kernels (flags: {present})"


def device_name(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_precision(requested: str = "auto", device: str = "auto") -> str:
    """'bf16', 'fp16' or 'fp32' for this machine; an explicit request is honoured."""
    import torch

    if requested != "auto":
        return requested
    if device_name(device) == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16"
        return "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def torch_dtype(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]


def describe_hardware() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_bf16": cpu_has_bf16(),
        "cpu": describe_cpu(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info
