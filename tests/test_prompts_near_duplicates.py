"""Copies (case, spacing, sentence punctuation; a tabular record's feature values) and near copies (word sets at
Jaccard >= 0.8, MinHash LSH) never straddle a split, and each kind and the groups whose labels disagree are
counted: in meta.json, in `sftbench data`'s output and in the table heading."""

import json

from bench.report import split_note
from prompts import near_duplicates
from prompts.build import build_task, load_split
from prompts.examples import Example
from prompts.split import SPLITS, stratified_split
from prompts.tasks import get_task
from tests.helpers import run_sftbench

COPIES = ("Loved it!!", "LOVED it.", "loved   it", "Ｌｏｖｅｄ ｉｔ！")  # the last one full-width: NFKC makes it plain


def test_normalising_keeps_emoticons_apart():
    assert {near_duplicates.normalised(text) for text in COPIES} == {"loved it"}
    # every punctuation mark dropped would make one group of these three, which mean three different things
    assert len({near_duplicates.normalised(t) for t in ("@anonymous :)", "@anonymous :'(", "@anonymous :-*")}) == 3
    assert near_duplicates.normalised("!!!") == "!!!"  # nothing left after dropping: the folded text itself
    same = Example("a", "Odor: none.", "edible", {"odor": "None ", "cap": "Flat"})
    assert near_duplicates.group_key(same) == near_duplicates.group_key(
        Example("b", "Odor: NONE!", "edible", {"cap": "flat", "odor": "none"})
    )


def labelled_copies(n_groups=12):
    """Groups of four copies (plus distinct texts), so a seeded split puts some groups on several sides."""
    examples = []
    for g in range(n_groups):
        label = ("good", "bad")[g % 2]
        examples += [Example(f"c{g}-{i}", f"{text} number {g}", label) for i, text in enumerate(COPIES)]
    examples += [Example(f"u{i}", f"A distinct review {i}", ("good", "bad")[i % 2]) for i in range(80)]
    return examples


def test_a_group_split_across_sides_goes_whole_to_train_and_train_keeps_its_order():
    split = stratified_split(labelled_copies(), seed=42)
    before = near_duplicates.groups_of(split)
    straddling = [g for g in before if len(g.sides) > 1]
    assert straddling, "the fixture must put some group on several sides, else this test proves nothing"
    kept, moved, near_only = near_duplicates.keep_groups_together(split)
    assert sum(moved.values()) == sum(1 for g in straddling for name, _ in g.members if name != "train") > 0
    assert sum(near_only.values()) == 0  # every copy here is exact
    for group in near_duplicates.groups_of(kept):
        assert len(group.sides) == 1
    # records only leave val/test and join the end of train: the first N of train (train_limit) are unchanged
    assert kept["train"][: len(split["train"])] == split["train"]
    assert sorted(e.id for s in kept.values() for e in s) == sorted(e.id for s in split.values() for e in s)


def write_reviews(path, rows):
    path.write_text("review,label\n" + "".join(f'"{text}",{label}\n' for text, label in rows))
    return path


def test_counts_reach_meta_the_build_output_and_the_table_heading(tmp_path):
    rows = [(e.text, e.label) for e in labelled_copies()]
    rows += [("What a film", "good"), ("what a film!", "bad")]  # one text, two labels
    path = write_reviews(tmp_path / "reviews.csv", rows)
    meta = build_task(get_task(f"csv:{path}", text_column="review"), out_root=tmp_path / "data")
    found = meta["near_duplicates"]
    assert (found["exact_groups"], found["exact_texts"], found["near_groups"]) == (13, 50, 0)
    assert found["conflicting_groups"] == 1 and found["conflicting_texts"] == 2
    assert sum(found["moved_to_train"].values()) > 0 and meta["split_key"]["near_duplicates"] == near_duplicates.RULE
    records = {s: load_split("reviews", s, tmp_path / "data") for s in SPLITS}
    texts = {s: {near_duplicates.normalised(r["input"]) for r in records[s]} for s in SPLITS}
    assert not texts["train"] & (texts["val"] | texts["test"]) and not texts["val"] & texts["test"]

    done = run_sftbench("data", f"csv:{path}", "task_options.text_column=review", "--out", str(tmp_path / "cli"))
    assert done.returncode == 0, done.stderr
    assert "13 exact-copy groups (50 texts) and 0 near-copy groups (0 texts; word sets at Jaccard >= 0.8) kept" in (
        done.stdout
    )
    assert "; 1 group with conflicting labels (2 texts)" in done.stdout

    task_dir = tmp_path / "results" / "reviews"
    task_dir.mkdir(parents=True)
    (task_dir / "split.json").write_text(json.dumps({"split_hash": meta["split_hash"], "near_duplicates": found}))
    assert split_note(task_dir, meta["split_hash"]).startswith(" 13 exact-copy groups (50 texts) and 0 near-copy")
    assert split_note(task_dir, "another split") == ""  # rows of another split are not described by this file


def test_a_split_without_straddling_copies_keeps_its_hash(tmp_path):
    """The rule names a split only where it moved something, so runs and rows of an unchanged split stay valid."""
    path = write_reviews(tmp_path / "plain.csv", [(f"Review {i}", ("good", "bad")[i % 2]) for i in range(40)])
    task = get_task(f"csv:{path}", text_column="review")
    meta = build_task(task, out_root=tmp_path)
    assert "near_duplicates" not in meta["split_key"] and meta["near_duplicates"]["exact_groups"] == 0
    assert build_task(task, out_root=tmp_path) == meta  # built once, then reused


def test_a_given_test_file_drops_its_copies_from_train(tmp_path):
    train = write_reviews(tmp_path / "train.csv", [(f"Review {i}", ("good", "bad")[i % 2]) for i in range(40)])
    test = write_reviews(tmp_path / "test.csv", [("REVIEW 3!", "bad"), ("review   4.", "good"), ("Other", "good")])
    meta = build_task(get_task(f"csv:{train}", text_column="review", test_file=str(test)), out_root=tmp_path)
    assert sum(meta["near_duplicates"]["dropped"].values()) == 2  # from train, or from the val slice taken of it
    assert meta["overlap_dropped"] == {"train": 0, "val": 0}  # no exact copies: all were near-duplicates


NEAR = [
    ("That was major fun! I like winning at trivia!", "That was FUN!!! I LIKE winning at trivia!!!"),  # 0.89
    ("Sorry,in meeting I'll call later", "Sorry, I'll call later in meeting"),  # the same words, reordered
    (
        "Please CALL 08712402779 immediately as there is an urgent message",
        "Please CALL 08712402972 immediately as there is an urgent message",
    ),
]
APART = [("Thank you #VeteransDay", "@anonymous Thank you."), ("A glorious mess.", "A mess.")]  # 0.67: a shared phrase


def test_near_copies_group_and_a_shared_phrase_does_not():
    examples = [Example(f"n{i}-{j}", text, "x") for i, pair in enumerate(NEAR + APART) for j, text in enumerate(pair)]
    groups = near_duplicates.groups_of({"train": examples})
    grouped = sorted(sorted(e.text for _, e in g.members) for g in groups)
    assert grouped == sorted(sorted(pair) for pair in NEAR) and all(g.near for g in groups)
    # a tabular record is never a near copy, however many features it shares
    cap = {f"f{i}": "a" for i in range(20)}
    tabular = [Example("t1", "x", "e", {**cap, "odor": "none"}), Example("t2", "x", "p", {**cap, "odor": "foul"})]
    assert near_duplicates.groups_of({"train": tabular}) == []


def test_a_near_copy_the_exact_rule_misses_moves_to_train_and_is_counted(tmp_path):
    rows = [(f"An ordinary review of film {i}", ("good", "bad")[i % 2]) for i in range(60)]
    rows += [(a, "good") for a, _ in NEAR] + [(b, "good") for _, b in NEAR]
    rows += [(f"{a} again", "bad") for a, _ in NEAR] + [(f"{b} again", "bad") for _, b in NEAR]
    meta = build_task(get_task(f"csv:{write_reviews(tmp_path / 'near.csv', rows)}", text_column="review"), tmp_path)
    found = meta["near_duplicates"]
    assert found["exact_groups"] == 0 and found["near_groups"] >= 3
    records = {s: load_split("near", s, tmp_path) for s in SPLITS}
    words = {s: [near_duplicates.word_set(r["input"]) for r in records[s]] for s in SPLITS}
    for held_out in ("val", "test"):  # no held-out text has a near copy in train
        assert not any(near_duplicates.jaccard(a, b) >= 0.8 for a in words[held_out] for b in words["train"]), held_out
    assert sum(found["near_only_moved"].values()) == sum(found["moved_to_train"].values()) > 0
