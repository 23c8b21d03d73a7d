"""Which train records a run with train_limit uses: the prefix, or leaf-topup for rare rules."""

import pytest

from prompts.build import build_task, load_split
from prompts.sampling import select_train_records
from prompts.tasks import get_task
from sftbench_common.errors import UserError


def test_leaf_topup_sampling_covers_rare_rules():
    """A leaf-topup subset draws the rare odourless poisonous kinds far more often than a prefix does."""
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
