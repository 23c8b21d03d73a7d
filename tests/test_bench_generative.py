"""Generative answers on a real model: generate mode batched and one by one, the answer parser."""

import pytest

from bench.generative import INVALID, generate_answers, parse_label
from tests.helpers import mushroom_records


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("Edible", "edible"),
        (" poisonous.", "poisonous"),
        ("The mushroom is poisonous", "poisonous"),
        ("edible or poisonous?", "edible"),
        ("It could be edible or it could be poisonous", INVALID),
        ("I cannot tell", INVALID),
        ("", INVALID),
        ("inedible", INVALID),
    ],
)
def test_parse_label(answer, expected):
    assert parse_label(answer, ["edible", "poisonous"]) == expected


def test_generate_mode_batched_equals_one_by_one(smollm2):
    model, tokenizer = smollm2
    records = mushroom_records(3)
    records[0] = {**records[0], "input": records[0]["input"][:50]}
    batched = generate_answers(model, tokenizer, records, ["edible", "poisonous"], batch_size=3, progress=False)
    single = [
        generate_answers(model, tokenizer, [r], ["edible", "poisonous"], batch_size=1, progress=False)[0]
        for r in records
    ]
    assert batched == single
    assert all(isinstance(a, str) and a.strip() for a in batched)
