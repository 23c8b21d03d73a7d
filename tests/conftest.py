import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path_factory, monkeypatch):
    """Every test writes data and results under a temporary folder, never into the repo."""
    root = tmp_path_factory.mktemp("sftbench")
    monkeypatch.setenv("SFTBENCH_DATA", str(root / "data"))
    monkeypatch.setenv("SFTBENCH_RESULTS", str(root / "results"))
    return root
