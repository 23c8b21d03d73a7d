"""A benchmark row's peak memory on CPU: the resident set sampled while the row runs, starting from what is live."""

import platform
import time

import psutil
import torch

from bench import measure
from bench.measure import PeakMemory


def test_a_rows_peak_counts_what_it_allocates():
    with PeakMemory("cpu") as memory:
        start = psutil.Process().memory_info().rss / 2**20  # after the freed memory went back
        block = torch.ones(50_000_000)  # 200 MB, touched
        time.sleep(0.3)  # the sampler looks every 50 ms
        del block
    assert memory.peak_mb > start + 150


def test_memory_freed_before_a_row_is_handed_back_first(monkeypatch):
    """Each row starts by handing freed memory back (glibc keeps freed pages, and a row would otherwise report the
    high-water mark of the rows before it: docs/experiment-log.md measured 2,019 MB for a decision tree)."""
    calls = []
    monkeypatch.setattr(measure, "release_freed_memory", lambda: calls.append(1))
    with PeakMemory("cpu"):
        pass
    assert calls == [1]


def test_handing_freed_memory_back_finds_glibcs_trim():
    if platform.libc_ver()[0] == "glibc":
        assert measure.malloc_trim() is not None
    measure.release_freed_memory()  # glibc's malloc_trim where there is one; nothing elsewhere
