import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path_factory, monkeypatch):
    """Every test writes data and results under a temporary folder, never into the repo."""
    root = tmp_path_factory.mktemp("sftbench")
    monkeypatch.setenv("SFTBENCH_DATA", str(root / "data"))
    monkeypatch.setenv("SFTBENCH_RESULTS", str(root / "results"))
    return root


def run_module(module: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m module args` as a user would, returning its exit code and output."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
