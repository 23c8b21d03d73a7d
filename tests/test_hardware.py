"""Precision per machine: the CPU's bf16 flags decide, an explicit request or SFTBENCH_CPU_BF16 overrides."""

import torch

from sftbench_common.hardware import cpu_flags, cpu_flags_have_bf16, describe_hardware, pick_precision


def test_the_cpu_flags_decide_unless_overridden(monkeypatch):
    monkeypatch.delenv("SFTBENCH_CPU_BF16", raising=False)
    assert pick_precision(device="cpu") == ("bf16" if cpu_flags_have_bf16() else "fp32")
    monkeypatch.setenv("SFTBENCH_CPU_BF16", "0")
    assert pick_precision(device="cpu") == "fp32"
    assert describe_hardware()["cpu_bf16"] is False  # run.json records what the run was treated as
    monkeypatch.setenv("SFTBENCH_CPU_BF16", "1")
    assert pick_precision(device="cpu") == "bf16"
    assert pick_precision("fp32", device="cpu") == "fp32"  # an explicit request wins


def test_the_cpu_is_described_by_its_vector_flags_and_torch_kernels():
    """Every timing names the CPU it came from: run.json's hardware and `sftbench speed` say which vector
    flags lscpu lists and which kernels torch runs (ATEN_CPU_CAPABILITY can lower them)."""
    described = describe_hardware()["cpu"]
    assert described.startswith(f"{torch.backends.cpu.get_cpu_capability()} kernels (flags: ")
    flags = cpu_flags()
    assert ("avx2" in described) == ("avx2" in flags) and ("avx512f" in described) == ("avx512f" in flags)
