"""Where sftbench keeps data and caches. Override with SFTBENCH_DATA / SFTBENCH_CACHE."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("SFTBENCH_DATA", REPO_ROOT / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("SFTBENCH_CACHE", Path.home() / ".cache" / "sftbench"))


def results_dir() -> Path:
    return Path(os.environ.get("SFTBENCH_RESULTS", REPO_ROOT / "results"))
