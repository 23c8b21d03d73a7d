"""Generative answers on a real model: generate mode batched and one by one, the answer parser."""

import pytest
import torch

from bench.generative import INVALID, generate_answers, load_for_inference, parse_label
from prompts.build import build_task, load_split
from prompts.tasks import get_task
from sft import label_scoring
from sft.label_scoring import answer_from_scores, score_and_answer, score_labels
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
    scores, shared, _, _ = score_and_answer(
        model, tokenizer, records, labels, batch_size=2, progress=False, answer_tokens=6
    )
    assert shared == alone
    assert scores == score_labels(model, tokenizer, records, labels, batch_size=2, progress=False)


def test_answer_from_scores_follows_the_labels_tokens_to_the_end():
    """The greedy answer read off the score pass's argmaxes: along a label's tokens to the end-of-sequence token,
    across labels that share their first tokens, cut at max_tokens; None where it leaves every label."""
    eos = 9
    completions = [[1, 2, eos], [1, 3, 4, eos]]  # two labels sharing their first token
    # follow[l][j]: the argmax after label l's first j+1 tokens (padded to the longest label, less one)
    assert answer_from_scores(1, [[2, eos, 0], [3, 4, eos]], completions, eos, 8) == [1, 2, eos]
    assert answer_from_scores(1, [[3, eos, 0], [3, 4, eos]], completions, eos, 8) == [1, 3, 4, eos]
    assert answer_from_scores(1, [[2, 5, 0], [3, 4, eos]], completions, eos, 8) is None  # label 0, then leaves it
    assert answer_from_scores(1, [[2, eos, 0], [3, 4, eos]], completions, eos, 2) == [1, 2]  # max_tokens
    assert answer_from_scores(eos, [[2, eos, 0], [3, 4, eos]], completions, eos, 8) == [eos]
    assert answer_from_scores(7, [[2, eos, 0], [3, 4, eos]], completions, eos, 8) is None


def test_answers_read_off_the_scores_equal_decoding(monkeypatch):
    """Tweets, base SmolLM2 in fp32: some greedy answers are a label then the end of the turn (read off the score
    pass), others free text (decoded); together they equal generate mode's answers, and fewer rows decode."""
    build_task(get_task("tweets"))
    records, labels = load_split("tweets", "test")[:24], ["negative", "neutral", "positive"]
    model, tokenizer = load_for_inference("smollm2-135m-instruct", dtype=torch.float32)
    alone = generate_answers(model, tokenizer, records, labels, batch_size=8, max_new_tokens=7, progress=False)
    decoded_rows = []
    real = label_scoring.greedy_from_cache

    def counting(model, tokenizer, input_ids, *args):
        decoded_rows.append(len(input_ids))
        return real(model, tokenizer, input_ids, *args)

    monkeypatch.setattr(label_scoring, "greedy_from_cache", counting)
    scores, shared, _, read_off = score_and_answer(
        model, tokenizer, records, labels, batch_size=8, progress=False, answer_tokens=7
    )
    assert shared == alone
    assert 0 < read_off < len(records) and sum(decoded_rows) == len(records) - read_off
    assert sum(a in labels for a in alone) >= read_off


def test_answers_decoded_together_from_several_batches_equal_decoding(monkeypatch):
    """Rows whose answers leave the labels wait for rows of later batches (of other widths) and decode as one
    batch from their prompt caches merged (label_scoring.merge_waiting); in fp32 the answers equal generate mode's."""
    build_task(get_task("tweets"))
    records, labels = load_split("tweets", "test")[:24], ["negative", "neutral", "positive"]
    model, tokenizer = load_for_inference("smollm2-135m-instruct", dtype=torch.float32)
    alone = generate_answers(model, tokenizer, records, labels, batch_size=4, max_new_tokens=7, progress=False)
    decoded, widths = [], []
    real, real_merge = label_scoring.greedy_from_cache, label_scoring.merge_waiting

    def counting(model, tokenizer, input_ids, attention, cache, *args):
        decoded.append((len(input_ids), cache is not None))
        return real(model, tokenizer, input_ids, attention, cache, *args)

    def merging(waiting, *args):
        widths.append({w[1].size(1) for w in waiting})
        return real_merge(waiting, *args)

    monkeypatch.setattr(label_scoring, "greedy_from_cache", counting)
    monkeypatch.setattr(label_scoring, "merge_waiting", merging)
    monkeypatch.setattr(label_scoring, "DECODE_ROWS", 16)  # groups of 4 batches
    _, shared, _, read_off = score_and_answer(
        model, tokenizer, records, labels, batch_size=4, progress=False, answer_tokens=7
    )
    assert shared == alone
    assert sum(rows for rows, _ in decoded) == len(records) - read_off
    assert any(rows > 4 and from_cache for rows, from_cache in decoded)  # rows of several batches, one call
    assert any(len(found) > 1 for found in widths)  # batches of different widths padded to one
