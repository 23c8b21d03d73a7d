"""Peak memory while a benchmark row runs: CUDA's max allocated, or this process's resident set on CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import threading

import psutil


class PeakMemory:
    def __init__(self, device: str):
        self.device, self.peak_mb = device, 0.0

    def __enter__(self):
        if self.device == "cuda":
            import torch  # 2 s to import; only a CUDA row gets here, with torch already loaded

            torch.cuda.reset_peak_memory_stats()
            return self
        release_freed_memory()
        process, self._stop = psutil.Process(), threading.Event()

        def sample():
            while not self._stop.is_set():
                self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
                self._stop.wait(0.05)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            import torch

            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._stop.set()
            self._thread.join()
        return False


def release_freed_memory() -> None:
    """Hand memory that earlier rows freed back to the system before a row's resident set is sampled. glibc
    keeps freed heap pages (many KV-cache tensors of a few MB land there), so without this a row would report
    the high-water mark of the rows before it. Does nothing where the C library has no malloc_trim (macOS)."""
    gc.collect()
    trim = malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def malloc_trim():
    """glibc's malloc_trim, or None; looked up once (find_library runs ldconfig)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
