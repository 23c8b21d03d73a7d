"""The offline tasks: real rows from their packages, counts, and the mushroom renderer."""
import json
from collections import Counter

import pytest

from prompts import mushroom, sources
from prompts.build import build_task, load_split
from prompts.tasks import get_task


@pytest.fixture(scope="module")
def mushroom_rows():
    return json.loads(sources.MUSHROOM.read())


def test_mushroom_has_all_rows_and_labels():
    examples, _ = get_task("mushroom").load()
    assert len(examples) == 8124
    assert Counter(e.label for e in examples) == {"edible": 4208, "poisonous": 3916}


def test_every_feature_is_rendered(mushroom_rows):
    """Changing any one of the 22 features of a row changes its description: each one is in the text."""
    assert len(mushroom.FEATURES) == 22
    values = {f: sorted({r[f] for r in mushroom_rows if r.get(f)}) for f in mushroom.FEATURES}
    for row in mushroom_rows[:: 1000]:
        text = mushroom.describe(row)
        for feature in mushroom.FEATURES:
            for other in values[feature]:
                if other != row.get(feature):
                    assert mushroom.describe({**row, feature: other}) != text, (feature, other)
    assert len({mushroom.describe(r) for r in mushroom_rows}) == len(mushroom_rows)


def test_missing_stalk_root_is_unknown(mushroom_rows):
    missing = [r for r in mushroom_rows if not r.get("stalk-root")]
    assert len(missing) == 2480
    assert "its root is unknown" in mushroom.describe(missing[0])
    assert "unknown" not in mushroom.describe(next(r for r in mushroom_rows if r.get("stalk-root")))


def test_mushroom_record_reads_as_english(mushroom_rows):
    text = mushroom.describe(mushroom_rows[0])
    assert text.startswith("The cap is convex, smooth and brown. It bruises. It smells pungent.")


@pytest.mark.parametrize("name,counts", [
    ("tweets", {"positive": 2345, "neutral": 768, "negative": 1087}),
    ("movie-reviews", {"positive": 7403, "negative": 5405}),
    ("sms-spam", {"ham": 4220, "spam": 642}),
])
def test_offline_text_tasks_counts(name, counts):
    examples, _ = get_task(name).load()
    assert Counter(e.label for e in examples) == counts
    assert all(e.text for e in examples)


def test_build_writes_alpaca_records_and_meta(isolated_outputs):
    meta = build_task(get_task("mushroom"))
    assert meta["total"] == 8124
    assert {label: sum(meta["counts"][s][label] for s in meta["counts"]) for label in meta["labels"]} == \
        {"edible": 4208, "poisonous": 3916}
    record = load_split("mushroom", "test")[0]
    assert set(record) == {"id", "instruction", "input", "output", "features"}
    assert len(record["features"]) == 22  # raw attributes kept for the feature baselines
    assert record["output"] in ("edible", "poisonous")
    assert "edible or poisonous" in record["instruction"]


def test_hub_task_reads_hub_layout(monkeypatch, isolated_outputs):
    """The Hub path (datasets.load_dataset) on a local fixture in AG News' own column layout."""
    from pathlib import Path

    monkeypatch.setenv("SFTBENCH_HUB_MIRROR", str(Path(__file__).parent / "fixtures" / "hub"))
    task = get_task("ag_news")
    examples, _ = task.load()
    assert task.labels == ("world", "sports", "business", "sci/tech")
    assert Counter(e.label for e in examples) == {"world": 5, "sports": 5, "business": 5, "sci/tech": 5}
    meta = build_task(task)
    assert all(meta["counts"][s] for s in ("train", "val", "test"))


def test_hub_task_offline_is_a_clear_error(monkeypatch):
    from sft.errors import UserError

    monkeypatch.delenv("SFTBENCH_HUB_MIRROR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError, match="Hugging Face Hub"):
        get_task("imdb").load()


def test_leaf_topup_sampling_covers_rare_rules():
    """A leaf-topup subset draws the rare odourless poisonous kinds far more often than a prefix does."""
    from prompts.sampling import select_train_records
    from sft.errors import UserError

    build_task(get_task("mushroom"))
    train = load_split("mushroom", "train")

    def odourless_poisonous(records):
        return sum(r["features"]["odor"] == "none" and r["output"] == "poisonous" for r in records)

    chosen = select_train_records(train, 768, "leaf-topup", seed=42)
    assert len(chosen) == 768 and len({r["id"] for r in chosen}) == 768
    assert {r["id"] for r in chosen} <= {r["id"] for r in train}
    assert chosen == select_train_records(train, 768, "leaf-topup", seed=42)
    assert odourless_poisonous(chosen) >= 3 * odourless_poisonous(train[:768]) > 0
    assert select_train_records(train, 768, "first") == train[:768]
    assert select_train_records(train, None, "leaf-topup") == train
    with pytest.raises(UserError, match="tabular"):
        select_train_records([{"id": "a", "input": "text", "output": "x"}] * 3, 2, "leaf-topup")
    with pytest.raises(UserError, match="train_sampling"):
        select_train_records(train, 10, "random")
