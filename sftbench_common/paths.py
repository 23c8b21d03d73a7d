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


def shown_path(path: str | Path) -> str:
    """How a user's file is named in anything that may be published (tables, model cards, the paper): relative
    to the repository when it is inside it, else its base name, never an absolute path (which names the user,
    their machine and their folders)."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved.is_relative_to(REPO_ROOT):
        return resolved.relative_to(REPO_ROOT).as_posix()
    return path.name
