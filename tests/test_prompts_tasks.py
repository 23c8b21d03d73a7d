"""The offline tasks: every mushroom row and feature rendered, the text tasks' counts, the built records."""

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
    for row in mushroom_rows[::1000]:
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


@pytest.mark.parametrize(
    "name,counts",
    [
        ("tweets", {"positive": 2345, "neutral": 768, "negative": 1087}),
        ("movie-reviews", {"positive": 7403, "negative": 5405}),
        ("sms-spam", {"ham": 4220, "spam": 642}),
    ],
)
def test_offline_text_tasks_counts(name, counts):
    examples, _ = get_task(name).load()
    assert Counter(e.label for e in examples) == counts
    assert all(e.text for e in examples)


def test_build_writes_alpaca_records_and_meta(isolated_outputs):
    meta = build_task(get_task("mushroom"))
    assert meta["total"] == 8124
    assert {label: sum(meta["counts"][s][label] for s in meta["counts"]) for label in meta["labels"]} == {
        "edible": 4208,
        "poisonous": 3916,
    }
    record = load_split("mushroom", "test")[0]
    assert set(record) == {"id", "instruction", "input", "output", "features"}
    assert len(record["features"]) == 22  # raw attributes kept for the feature baselines
    assert record["output"] in ("edible", "poisonous")
    assert "edible or poisonous" in record["instruction"]
