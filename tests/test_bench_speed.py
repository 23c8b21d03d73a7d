"""`sftbench speed` end to end at its smallest: every training path timed and evaluated, the score-mode ratio, the
matmul peak and MFU, each line naming the CPU's kernels and the precision."""

import re

import pytest

from tests.helpers import run_sftbench


@pytest.mark.slow
def test_speed_times_every_path_and_reports_the_peak_and_mfu():
    done = run_sftbench(
        "speed", "--tasks", "mushroom", "--steps", "2", "--batch-size", "2", "--max-length", "96",
        "--score-examples", "4", "--heldout", "2", "--trunk-records", "8", "--bench-examples", "6",
        "--tree-examples", "24",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"device cpu, CPU \w+ kernels \(flags: [^)]*\), toolkit precision (bf16|fp32)", out), out[:600]
    for path in ("plain", "toolkit", "eager", "shared prefix", "top 8 layers"):
        line = next(x for x in out.splitlines() if re.match(rf"\s+mushroom\s+{path}\s+train:", x))
        seconds, loss = re.search(r"([\d.]+) s/step.*held-out completion loss ([\d.]+)", line).groups()
        assert float(seconds) > 0 and 0 < float(loss) < 20, line
    assert re.search(r"mushroom: train speedup of the shared prefix .* LoRA on the top 8 layers [\d.]+x more", out)
    assert re.search(r"score speedup vs per-example generate: [\d.]+x", out)
    peak = re.search(r"([\d]+) GFLOP/s achieved .* vs ([\d]+) GFLOP/s (bf16|fp32) matmul peak: MFU (\d+)%", out)
    assert peak and 0 < int(peak[1]) and 0 < int(peak[2]), out[-1500:]
    assert "score ceiling:" in out
    trees = re.search(
        r"mushroom: prompt trees in score mode \(24 of 813 test records; .*not packed.*: ([\d.]+) s -> ([\d.]+) s, "
        r"[\d.]+x; predictions equal on (\d+) of 24",
        out,
    )
    assert trees and float(trees[1]) > 0 and int(trees[3]) == 24, out[-2000:]
    operators = re.search(
        r"score mode by operator \(4 mushroom test records, profiled\): ([\d.]+) s, of which matmuls ([\d.]+) s "
        r"\(\d+%; (\d+) GFLOP/s, \d+% of the peak\), attention ([\d.]+) s",
        out,
    )
    assert operators, out[-2000:]
    total, matmuls, flops, attention = map(float, operators.groups())
    assert 0 < matmuls + attention <= total and flops > 0, operators[0]
    # the frozen trunk computed once: a 3-epoch run, a 9-run group and the benchmark, each way, equal results
    assert re.search(r"mushroom: trunk cache, a 3-epoch run of 8 records .* [\d.]+x .*equal within", out), out[-2000:]
    assert re.search(r"mushroom: trunk cache, a group of 9 runs .* [\d.]+x .*final losses equal within", out)
    assert re.search(r"mushroom: shared trunk in the benchmark \(6 test records, score mode\).* predictions equal", out)
