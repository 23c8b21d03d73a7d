"""Copies and near copies of a text, kept on one side of a split, and groups whose labels disagree.

Two kinds of copy are found, and counted apart:

* exact copies: texts equal after Unicode NFKC, case folding, dropping sentence punctuation (. , ! ? ; and
  their full-width forms) and collapsing whitespace ("YAY!! Another good phone interview!!" and "Yay. Another
  good phone interview."); tabular records when their feature values are equal the same way. Other marks stay:
  dropping every punctuation mark would make one group of the emoticon-only tweets ":)", ":'(" and ":-*", which
  mean three different things.
* near copies (texts only): the sets of words of two texts (after the same normalising, @mentions and URLs
  left out) overlap with a Jaccard similarity of at least NEAR_THRESHOLD: "That was major fun! I like winning at
  trivia!" and "That was FUN!!! I LIKE winning at trivia!!!" (0.89), two spam texts that differ in a phone
  number (0.86-0.90), "Sorry,in meeting I'll call later" and "Sorry, I'll call later in meeting" (1.0).
  Candidates come from MinHash LSH (datasketch; 128 permutations, retrieval at 0.7), each confirmed by the exact
  Jaccard similarity of the two word sets. The threshold was chosen by reading pairs of test and train texts of
  the offline tasks at every 0.1 of similarity (docs/data.md shows some): from 0.8 up they were the same text
  edited; at 0.6-0.7 they were often two texts that share a phrase ("Thank you #VeteransDay" and "Thank you.",
  "A mess." and "A glorious mess."). Tabular records have no near rule: two mushrooms that differ in one
  feature are two cases (one odour can decide edibility), not one case written twice.

Copies group transitively (a near copy of an exact copy joins its group). A group that a split put on several
sides goes whole to train (appended at its end, so the first N records of train, which a run with `train_limit`
uses, stay as they were); when the test split is the source's own, its copies in train and val are dropped
instead. datasketch loads inside the functions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from prompts.examples import Example

EXACT_RULE = "nfkc-casefold-sentence-punctuation-whitespace"
NEAR_THRESHOLD = 0.8
CANDIDATE_THRESHOLD = 0.7  # LSH retrieves pairs from here; each is confirmed at NEAR_THRESHOLD
PERMUTATIONS = 128
NEAR_RULE = f"minhash-lsh-word-set-jaccard-{NEAR_THRESHOLD:g}"
RULE = f"exact: {EXACT_RULE}; near, texts: {NEAR_RULE}"  # meta.json records it; a new rule rebuilds the splits
SENTENCE_PUNCTUATION = str.maketrans({mark: " " for mark in ".,!?;"})
MENTIONS_AND_URLS = re.compile(r"@\w+|https?://\S+|www\.\S+")


def normalised(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()  # NFKC first: "！" becomes "!", "…" becomes "..."
    return " ".join(folded.translate(SENTENCE_PUNCTUATION).split()) or " ".join(folded.split())


def group_key(example: Example) -> str:
    """The exact rule's key: equal keys are exact copies."""
    if example.features:
        return json.dumps(sorted((name, normalised(str(value))) for name, value in example.features.items()))
    return normalised(example.text)


def word_set(text: str) -> frozenset[str]:
    """The words the near rule compares: normalised, without @mentions and URLs."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return frozenset(re.findall(r"\w+", MENTIONS_AND_URLS.sub(" ", folded)))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_pairs(examples: list[Example]) -> list[tuple[int, int]]:
    """Index pairs of texts whose word sets have a Jaccard similarity of at least NEAR_THRESHOLD (MinHash LSH
    candidates, each confirmed exactly). Tabular records and texts without words take no part."""
    from datasketch import MinHash, MinHashLSH

    words = {i: word_set(e.text) for i, e in enumerate(examples) if not e.features}
    words = {i: w for i, w in words.items() if w}
    indices = list(words)
    hashes = MinHash.bulk([[w.encode() for w in words[i]] for i in indices], num_perm=PERMUTATIONS, seed=1)
    index = MinHashLSH(threshold=CANDIDATE_THRESHOLD, num_perm=PERMUTATIONS)
    with index.insertion_session() as session:
        for i, minhash in zip(indices, hashes):
            session.insert(i, minhash)
    pairs = set()
    for i, minhash in zip(indices, hashes):
        for j in index.query(minhash):
            if j > i and jaccard(words[i], words[j]) >= NEAR_THRESHOLD:
                pairs.add((i, j))
    return sorted(pairs)


@dataclass
class Group:
    members: list[tuple[str, Example]]  # (split, example)
    exact_keys: int  # how many distinct exact-rule keys it joins: 1 for exact copies, more where near copies join

    @property
    def near(self) -> bool:
        return self.exact_keys > 1

    @property
    def sides(self) -> set[str]:
        return {name for name, _ in self.members}


def groups_of(splits: dict[str, list[Example]]) -> list[Group]:
    """Every group of two or more copies across the splits: exact copies joined by key, then near copies."""
    members = [(name, example) for name, examples in splits.items() for example in examples]
    parent = list(range(len(members)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of_key: dict[str, int] = {}
    keys = [group_key(example) for _, example in members]
    for i, key in enumerate(keys):
        parent[root(i)] = root(first_of_key.setdefault(key, i))
    for i, j in near_pairs([example for _, example in members]):
        parent[root(i)] = root(j)
    joined: dict[int, list[int]] = {}
    for i in range(len(members)):
        joined.setdefault(root(i), []).append(i)
    return [
        Group([members[i] for i in group], len({keys[i] for i in group})) for group in joined.values() if len(group) > 1
    ]


def keep_groups_together(splits: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict, dict]:
    """Every group on several sides moved whole to the end of train. Returns the splits, the count moved out of
    each held-out split, and of those the ones only the near rule moved (their exact copies, if any, were all on
    their own side: a near copy the exact rule missed)."""
    groups = [g for g in groups_of(splits) if len(g.sides) > 1]
    moving = {example.id for g in groups for name, example in g.members if name != "train"}
    by_exact: dict[str, set[str]] = {}
    for name, examples in splits.items():
        for example in examples:
            by_exact.setdefault(group_key(example), set()).add(name)
    held_out = {name: [e for e in splits[name] if e.id not in moving] for name in splits if name != "train"}
    to_train = [e for name in held_out for e in splits[name] if e.id in moving]
    moved = {name: len(splits[name]) - len(held_out[name]) for name in held_out}
    near_only = {
        name: sum(1 for e in splits[name] if e.id in moving and by_exact[group_key(e)] == {name}) for name in held_out
    }
    return {"train": splits["train"] + to_train, **held_out}, moved, near_only


def drop_copies_of_held_out(splits: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict[str, int]]:
    """When the source fixes the test split: train and val members of a group holding a test record are dropped,
    and train members of a group holding a val record; returns the splits and the count dropped from each."""
    dropped_ids = set()
    for group in groups_of(splits):
        if "test" in group.sides:
            dropped_ids |= {e.id for name, e in group.members if name != "test"}
        elif "val" in group.sides:
            dropped_ids |= {e.id for name, e in group.members if name == "train"}
    kept = {name: [e for e in examples if e.id not in dropped_ids] for name, examples in splits.items()}
    return kept, {name: len(splits[name]) - len(kept[name]) for name in ("train", "val")}


def describe_groups(splits: dict[str, list[Example]]) -> dict[str, int]:
    """How many groups of each kind the final splits hold, their texts, and how many disagree on the label."""
    groups = groups_of(splits)
    conflicting = [group for group in groups if len({example.label for _, example in group.members}) > 1]
    return {
        "exact_groups": sum(not g.near for g in groups),
        "exact_texts": sum(len(g.members) for g in groups if not g.near),
        "near_groups": sum(g.near for g in groups),
        "near_texts": sum(len(g.members) for g in groups if g.near),
        "conflicting_groups": len(conflicting),
        "conflicting_texts": sum(len(group.members) for group in conflicting),
    }


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def note(found: dict) -> str:
    """One phrase for build output and table headings: '26 exact-copy groups (160 texts) and 9 near-copy groups
    (21 texts; word sets at Jaccard >= 0.8) kept on one side (40 held-out texts moved to train; 12 of them only by
    the near rule); 1 group with conflicting labels (3 texts)'."""
    text = (
        f"{plural(found['exact_groups'], 'exact-copy group')} ({found['exact_texts']} texts) and "
        f"{plural(found['near_groups'], 'near-copy group')} ({found['near_texts']} texts; word sets at Jaccard >= "
        f"{NEAR_THRESHOLD:g}) kept on one side"
    )
    moved = sum(found.get("moved_to_train", {}).values())
    near_only = sum(found.get("near_only_moved", {}).values())
    dropped = sum(found.get("dropped", {}).values())
    if moved:
        text += f" ({plural(moved, 'held-out text')} moved to train; {near_only} of them only by the near rule)"
    if dropped:
        text += f" ({plural(dropped, 'copy', 'copies')} of held-out texts dropped from train/val)"
    conflicts = found["conflicting_groups"]
    return f"{text}; {plural(conflicts, 'group')} with conflicting labels" + (
        f" ({found['conflicting_texts']} texts)" if conflicts else ""
    )
