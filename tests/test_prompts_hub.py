"""Hub-backed tasks, offline: the `datasets` path on a local fixture in the Hub's layout, and the offline error."""

from collections import Counter
from pathlib import Path

import pytest

from common.errors import UserError
from prompts.build import build_task
from prompts.tasks import get_task


def test_hub_task_reads_hub_layout(monkeypatch, isolated_outputs):
    """The Hub path (datasets.load_dataset) on a local fixture in AG News' own column layout."""
    monkeypatch.setenv("SFTBENCH_HUB_MIRROR", str(Path(__file__).parent / "fixtures" / "hub"))
    task = get_task("ag_news")
    examples, _ = task.load()
    assert task.labels == ("world", "sports", "business", "sci/tech")
    assert Counter(e.label for e in examples) == {"world": 5, "sports": 5, "business": 5, "sci/tech": 5}
    meta = build_task(task)
    assert all(meta["counts"][s] for s in ("train", "val", "test"))


def test_hub_task_offline_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SFTBENCH_HUB_MIRROR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError, match="Hugging Face Hub"):
        get_task("imdb").load()
