"""In-context demonstrations: k train records shown before each test prompt (the benchmark's k-shot rows).

The demonstrations are drawn once per task with a seed, balanced over the labels (round-robin over the
labels in a seeded order, then shuffled), from the train split only: a record whose input text is also in
the val or test split is never drawn. Every model and every test record gets the same demonstrations, so
k-shot rows compare like with like, and the demonstrations belong to the prompt prefix that all test
records share (scored once per model, sft/label_scoring.py).
"""

from __future__ import annotations

import random
from collections import defaultdict

from sftbench_common.errors import UserError

SEED = 1234  # not the training seed: the same demonstrations whatever the runs were trained with
MAX_INPUT_TOKENS = 256  # a demonstration's input is shortened to this, as training shortens long inputs


def check_shots(shots: list, origin: str) -> list[int]:
    """The experiment's `fewshot` list as sorted distinct non-negative integers (0 is the plain base row)."""
    if not isinstance(shots, list) or not shots:
        raise UserError(f"{origin}: 'fewshot' must be a list of demonstration counts, e.g. [0, 4]; got {shots!r}")
    for k in shots:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise UserError(f"{origin}: 'fewshot' counts must be integers >= 0; got {k!r}")
    return sorted(set(shots))


def choose_demonstrations(
    train: list[dict], held_out: list[dict], labels: list[str], k: int, seed: int = SEED
) -> list[dict]:
    """k train records, balanced over `labels`, none whose input is also in `held_out` (val + test)."""
    if k == 0:
        return []
    unseen = {r["input"] for r in held_out}
    by_label: dict[str, list[dict]] = defaultdict(list)
    for record in train:
        if record["input"] not in unseen:
            by_label[record["output"]].append(record)
    available = sum(len(v) for v in by_label.values())
    if k > available:
        raise UserError(f"fewshot: {k} demonstrations asked for, but the train split has only {available} records")
    rng = random.Random(seed)
    pools = {label: rng.sample(by_label[label], len(by_label[label])) for label in labels}
    order = rng.sample(labels, len(labels))
    chosen: list[dict] = []
    while len(chosen) < k:
        for label in order:
            if pools[label] and len(chosen) < k:
                chosen.append(pools[label].pop())
    rng.shuffle(chosen)
    return chosen
