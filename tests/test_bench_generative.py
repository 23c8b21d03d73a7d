"""Generative answers on a real model: generate mode batched and one by one, the answer parser."""

import pytest

from bench.generative import INVALID, generate_answers, parse_label
from sft.label_scoring import score_and_answer, score_labels
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


def test_generate_from_the_score_pass_equals_generate_mode(smollm2):
    """Generate rows that share a score row's pass over the prompts (score_and_answer, answer_tokens > 0) give the
    answers generate mode gives on its own (fp32), with the scores score_labels gives."""
    model, tokenizer = smollm2
    records = mushroom_records(3)  # batches of 2 and 1
    labels = ["edible", "poisonous"]
    alone = generate_answers(model, tokenizer, records, labels, batch_size=2, max_new_tokens=6, progress=False)
    scores, shared, _ = score_and_answer(
        model, tokenizer, records, labels, batch_size=2, progress=False, answer_tokens=6
    )
    assert shared == alone
    assert scores == score_labels(model, tokenizer, records, labels, batch_size=2, progress=False)
