"""Precision per machine: the CPU's bf16 flags decide, an explicit request or SFTBENCH_CPU_BF16 overrides."""

from sftbench_common.hardware import cpu_flags_have_bf16, describe_hardware, pick_precision


def test_the_cpu_flags_decide_unless_overridden(monkeypatch):
    monkeypatch.delenv("SFTBENCH_CPU_BF16", raising=False)
    assert pick_precision(device="cpu") == ("bf16" if cpu_flags_have_bf16() else "fp32")
    monkeypatch.setenv("SFTBENCH_CPU_BF16", "0")
    assert pick_precision(device="cpu") == "fp32"
    assert describe_hardware()["cpu_bf16"] is False  # run.json records what the run was treated as
    monkeypatch.setenv("SFTBENCH_CPU_BF16", "1")
    assert pick_precision(device="cpu") == "bf16"
    assert pick_precision("fp32", device="cpu") == "fp32"  # an explicit request wins
