"""Texts that are the same once normalised, kept on one side of a split, and groups whose labels disagree.

Copies in real data differ in case, spacing and sentence punctuation ("YAY!! Another good phone interview!!",
"Yay. Another good phone interview."): such a group split between train and test leaks the answer. Two texts
belong to one group when they are equal after Unicode NFKC, case folding, dropping sentence punctuation
(. , ! ? ; and their full-width forms) and collapsing whitespace; tabular records when their feature values
are equal the same way. Other marks stay: dropping every punctuation mark would make one group of the
emoticon-only tweets ":)", ":'(" and ":-*", which mean three different things.

A group that a split put on several sides goes whole to train (appended at its end, so the first N records of
train, which a run with `train_limit` uses, stay as they were); when the test split is the source's own, its
copies in train and val are dropped instead.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict

from prompts.examples import Example

RULE = "nfkc-casefold-sentence-punctuation-whitespace"  # meta.json records it; a new rule rebuilds the splits
SENTENCE_PUNCTUATION = str.maketrans({mark: " " for mark in ".,!?;"})


def normalised(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()  # NFKC first: "！" becomes "!", "…" becomes "..."
    return " ".join(folded.translate(SENTENCE_PUNCTUATION).split()) or " ".join(folded.split())


def group_key(example: Example) -> str:
    if example.features:
        return json.dumps(sorted((name, normalised(str(value))) for name, value in example.features.items()))
    return normalised(example.text)


def groups_of(splits: dict[str, list[Example]]) -> dict[str, list[tuple[str, Example]]]:
    """Normalised key -> its (split, example) members, for keys held by two examples or more."""
    members: dict[str, list[tuple[str, Example]]] = defaultdict(list)
    for name, examples in splits.items():
        for example in examples:
            members[group_key(example)].append((name, example))
    return {key: group for key, group in members.items() if len(group) > 1}


def keep_groups_together(splits: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict[str, int]]:
    """Every group on several sides moved whole to the end of train; returns the splits and the count moved
    out of each held-out split."""
    moving = {
        example.id
        for group in groups_of(splits).values()
        if len({name for name, _ in group}) > 1
        for name, example in group
        if name != "train"
    }
    held_out = {name: [e for e in splits[name] if e.id not in moving] for name in splits if name != "train"}
    to_train = [e for name in held_out for e in splits[name] if e.id in moving]
    moved = {name: len(splits[name]) - len(held_out[name]) for name in held_out}
    return {"train": splits["train"] + to_train, **held_out}, moved


def drop_copies_of_held_out(splits: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict[str, int]]:
    """When the source fixes the test split: train and val members of a test group are dropped, and train
    members of a val group; returns the splits and the count dropped from each."""
    test_keys = {group_key(e) for e in splits["test"]}
    val = [e for e in splits["val"] if group_key(e) not in test_keys]
    held_out_keys = test_keys | {group_key(e) for e in val}
    train = [e for e in splits["train"] if group_key(e) not in held_out_keys]
    dropped = {"train": len(splits["train"]) - len(train), "val": len(splits["val"]) - len(val)}
    return {"train": train, "val": val, "test": splits["test"]}, dropped


def describe_groups(splits: dict[str, list[Example]]) -> dict[str, int]:
    """How many groups of near-duplicates the final splits hold, their texts, and how many disagree on the label."""
    groups = groups_of(splits)
    conflicting = [group for group in groups.values() if len({example.label for _, example in group}) > 1]
    return {
        "groups": len(groups),
        "texts": sum(len(group) for group in groups.values()),
        "conflicting_groups": len(conflicting),
        "conflicting_texts": sum(len(group) for group in conflicting),
    }


def note(near_duplicates: dict) -> str:
    """One phrase for build output and table headings: '33 near-duplicate groups (187 texts) kept on one side
    (12 held-out texts moved to train); 1 group with conflicting labels (3 texts)'."""
    groups = near_duplicates["groups"]
    text = f"{groups} near-duplicate group{'s' * (groups != 1)} ({near_duplicates['texts']} texts) kept on one side"
    moved = sum(near_duplicates.get("moved_to_train", {}).values())
    dropped = sum(near_duplicates.get("dropped", {}).values())
    if moved:
        text += f" ({moved} held-out text{'s' * (moved != 1)} moved to train)"
    if dropped:
        text += f" ({dropped} cop{'ies' if dropped != 1 else 'y'} of held-out texts dropped from train/val)"
    conflicts = near_duplicates["conflicting_groups"]
    return f"{text}; {conflicts} group{'s' * (conflicts != 1)} with conflicting labels" + (
        f" ({near_duplicates['conflicting_texts']} texts)" if conflicts else ""
    )
