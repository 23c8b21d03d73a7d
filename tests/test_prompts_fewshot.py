"""In-context demonstrations: drawn from train only, balanced over the labels, the same every time."""

from collections import Counter

import pytest

from prompts.build import build_task, load_split
from prompts.fewshot import check_shots, choose_demonstrations
from prompts.tasks import get_task
from sftbench_common.errors import UserError


@pytest.mark.parametrize("task", ["mushroom", "tweets"])
def test_demonstrations_come_from_train_only_balanced_and_seeded(task):
    meta = build_task(get_task(task))
    train, val, test = (load_split(task, s) for s in ("train", "val", "test"))
    labels = meta["labels"]
    for k in (1, 4, 7):
        shown = choose_demonstrations(train, val + test, labels, k)
        assert len(shown) == k
        held_out_ids = {r["id"] for r in val + test}
        held_out_inputs = {r["input"] for r in val + test}
        assert not {r["id"] for r in shown} & held_out_ids  # never a val or test record
        assert not {r["input"] for r in shown} & held_out_inputs  # nor a train record repeating one's text
        assert all(r in train for r in shown)
        counts = Counter(r["output"] for r in shown)
        assert max(counts.values()) - min(counts.get(label, 0) for label in labels) <= 1  # balanced
        assert shown == choose_demonstrations(train, val + test, labels, k)  # the same for every model and row
    assert choose_demonstrations(train, val + test, labels, 4) != choose_demonstrations(
        train, val + test, labels, 4, seed=7
    )


def test_a_train_record_repeating_a_held_out_text_is_never_shown():
    train = [{"id": f"t{i}", "input": f"text {i}", "output": "a" if i % 2 else "b"} for i in range(6)]
    held_out = [{"id": "x", "input": "text 1", "output": "a"}, {"id": "y", "input": "text 2", "output": "b"}]
    shown = choose_demonstrations(train, held_out, ["a", "b"], 4)
    assert {r["id"] for r in shown} == {"t0", "t3", "t4", "t5"}
    with pytest.raises(UserError, match="5 demonstrations asked for, but the train split has only 4 records"):
        choose_demonstrations(train, held_out, ["a", "b"], 5)


@pytest.mark.parametrize(
    "shots, message",
    [([], "must be a list"), ("4", "must be a list"), ([0, -1], "integers >= 0"), ([0, 2.5], "integers >= 0")],
)
def test_bad_fewshot_lists_are_one_clear_error(shots, message):
    with pytest.raises(UserError, match=message):
        check_shots(shots, "exp.yaml")
    assert check_shots([4, 0, 4], "exp.yaml") == [0, 4]
