"""The near copies the exact rule misses: per offline task, the held-out texts that only the near rule moved to
train, each with its copy in train (prompts/near_duplicates.py).

    python scripts/near_copies.py            # counts and up to 3 pairs per task
    python scripts/near_copies.py --pairs 10

It splits each task as `sftbench data` does (seeded, stratified) and compares before the copies are moved.
"""

import argparse

from prompts import near_duplicates
from prompts.build import DEFAULT_RATIOS, DEFAULT_SEED, dedupe
from prompts.split import stratified_split
from prompts.tasks import OFFLINE_TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="pairs shown per task")
    args = parser.parse_args()
    for name, make in OFFLINE_TASKS.items():
        task = make()
        examples, _ = dedupe(task.load()[0])
        splits = stratified_split(examples, seed=DEFAULT_SEED, ratios=DEFAULT_RATIOS["classification"])
        exact_sides = {}
        for side, members in splits.items():
            for example in members:
                exact_sides.setdefault(near_duplicates.group_key(example), set()).add(side)
        missed = []
        for group in near_duplicates.groups_of(splits):
            train = [e for side, e in group.members if side == "train"]
            for side, example in group.members:
                if side == "test" and train and exact_sides[near_duplicates.group_key(example)] == {"test"}:
                    words = near_duplicates.word_set(example.text)
                    copy = max(train, key=lambda e: near_duplicates.jaccard(words, near_duplicates.word_set(e.text)))
                    missed.append((example, copy, near_duplicates.jaccard(words, near_duplicates.word_set(copy.text))))
        print(
            f"{name}: {len(missed)} of {len(splits['test'])} test records have a near copy in train that the exact "
            f"rule misses"
        )
        for example, copy, similarity in missed[: args.pairs]:
            print(f"  {similarity:.2f}  test  [{example.label}] {example.text[:110]!r}")
            print(f"        train [{copy.label}] {copy.text[:110]!r}")


if __name__ == "__main__":
    main()
