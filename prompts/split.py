"""A stratified train/val/test split that is identical across runs, machines and library versions.

Python's `random.Random(seed)` is a fixed algorithm (Mersenne Twister), unlike helpers whose output can
change between releases: each class is shuffled with its own seeded generator and cut by the ratios.
"""

from __future__ import annotations

import random
from collections import defaultdict

from prompts.examples import Example
from sftbench_common.errors import UserError

SPLITS = ("train", "val", "test")


def shuffled_by_label(examples: list[Example], seed: int) -> dict[str, list[Example]]:
    """Each label's examples in a seeded order that depends only on their ids, the seed and the label."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in sorted(examples, key=lambda e: e.id):
        by_label[example.label].append(example)
    for label, members in by_label.items():
        random.Random(f"{seed}:{label}").shuffle(members)
    return dict(sorted(by_label.items()))


def stratified_slice(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(rest, slice): about `fraction` of each label's examples (one at least, where a label has two)."""
    rest, taken = [], []
    for members in shuffled_by_label(examples, seed).values():
        count = max(1, round(len(members) * fraction)) if len(members) >= 2 else 0
        taken += members[:count]
        rest += members[count:]
    random.Random(f"{seed}:rest").shuffle(rest)
    random.Random(f"{seed}:slice").shuffle(taken)
    return rest, taken


def stratified_split(
    examples: list[Example], seed: int = 42, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), source: str = "data"
) -> dict[str, list[Example]]:
    if len(ratios) != 3 or any(r <= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise UserError(f"split ratios must be three positive numbers that sum to 1, got {ratios}")
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for label, members in shuffled_by_label(examples, seed).items():
        if len(members) < 3:
            raise UserError(
                f"{source}: label '{label}' has {len(members)} example(s); every label needs at least "
                f"3 so that train, val and test each get one"
            )
        n_test = max(1, round(len(members) * ratios[2]))
        n_val = max(1, round(len(members) * ratios[1]))
        splits["test"] += members[:n_test]
        splits["val"] += members[n_test : n_test + n_val]
        splits["train"] += members[n_test + n_val :]
    for name in SPLITS:  # interleave classes so that any prefix of a split is mixed
        random.Random(f"{seed}:{name}").shuffle(splits[name])
    return splits
