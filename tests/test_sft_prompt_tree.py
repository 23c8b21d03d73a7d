"""Prompts run as prefix trees (sft/prompt_tree.py): the tree holds each shared opening once, and a packed pass
scores, answers and replays as the prompts run side by side do (fp32, a real model, packing forced on records
that would not reach the threshold)."""

import pytest

from bench.generative import load_for_inference
from prompts.build import build_task, load_split
from prompts.tasks import get_task
from sft import label_scoring, prompt_tree
from sft.label_scoring import common_prefix_length, prompt_ids, score_and_answer
from sft.prompt_tree import can_pack, prefix_tree, tree_plan
from sft.trunk import TrunkTape, adapter_boundary
from tests.helpers import mushroom_records

LABELS = ["edible", "poisonous"]


def test_the_tree_holds_each_shared_opening_once(monkeypatch):
    rows = [[1, 2, 3, 4], [1, 2, 5], [1, 2, 3, 4], [1, 2], [7, 8], [1, 2, 3, 6]]
    tokens, paths = prefix_tree(rows)
    assert len(tokens) == 8  # 1 2 (3 4 | 6) 5 and 7 8: the duplicate and the opening [1, 2] add nothing
    for row, path in zip(rows, paths):
        assert [tokens[node] for node in path] == row
        assert path == sorted(path)  # a parent comes before its children
    assert paths[0] == paths[2] and paths[3] == paths[1][:2]
    monkeypatch.setattr(prompt_tree, "TREE_ROWS", 2)
    # trees of two sorted rows, the smaller tree first, the last tree of one row last whatever its size
    order, share = tree_plan([[5, 1, 1], [1, 2, 3], [9], [1, 2, 4], [5, 2, 2]])
    assert order == [1, 3, 0, 4, 2] and share == (4 + 5 + 1) / 13


def counting_packed_passes(monkeypatch) -> list:
    calls = []
    real = label_scoring.packed_pass

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(label_scoring, "packed_pass", counting)
    return calls


def assert_same_scores(expected: list[dict], got: list[dict]) -> None:
    """Every record's label scores within 1e-4, and the same label best."""
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        assert a == pytest.approx(b, abs=1e-4)
        assert max(a, key=a.get) == max(b, key=b.get)


def scored(model, tokenizer, records, monkeypatch, packing: bool, answer_tokens: int = 6):
    """score_and_answer with packing on (whatever share the trees hold: these few records share less than the
    threshold asks) or off."""
    monkeypatch.setattr(label_scoring, "PACK_AT_MOST", 1.0)
    return score_and_answer(model, tokenizer, records, LABELS, 8, False, (), answer_tokens, pack=packing)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_pass_scores_and_answers_as_the_prompts_side_by_side(smollm2, monkeypatch, attention):
    """Mushroom prompts, 8 to a batch (trees of 8): the same scores (1e-4), predictions and greedy answers (every
    answer decoded from the packed pass's cache, laid out per row) as the unpacked pass."""
    model, tokenizer = smollm2
    records = mushroom_records(20)
    monkeypatch.setattr(model.config, "_attn_implementation", attention)
    assert can_pack(model)
    calls = counting_packed_passes(monkeypatch)
    plain_scores, plain_answers, _, _ = scored(model, tokenizer, records, monkeypatch, False)
    assert calls == []
    scores, answers, _, _ = scored(model, tokenizer, records, monkeypatch, True)
    assert calls == [8, 8, 4]
    assert_same_scores(plain_scores, scores)
    assert answers == plain_answers


def test_a_model_whose_attention_takes_no_tree_mask_is_not_packed(smollm2, monkeypatch):
    model, _ = smollm2
    monkeypatch.setattr(model.config, "_attn_implementation", "flash_attention_2")
    assert not can_pack(model)


def test_a_replay_of_a_packed_pass_equals_the_whole_model(lora_run, smollm2, monkeypatch):
    """The benchmark's shared trunk on packed passes: a fine-tuned model's top layers from the base model's
    recorded (packed) pass give the whole fine-tuned model's scores (1e-4) and answers."""
    base, tokenizer = smollm2
    _, run_dir = lora_run
    tuned, _ = load_for_inference("smollm2-135m-instruct", run_dir)
    records = mushroom_records(20)
    calls = counting_packed_passes(monkeypatch)
    tape = TrunkTape(adapter_boundary(run_dir))
    scored(tape.recorder(base), tokenizer, records, monkeypatch, True)
    whole_scores, whole_answers, _, _ = scored(tuned, tokenizer, records, monkeypatch, True)
    scores, answers, _, _ = scored(tape.replaying(tuned), tokenizer, records, monkeypatch, True)
    assert len(calls) == 9
    assert_same_scores(whole_scores, scores)
    assert answers == whole_answers


def test_packing_is_chosen_where_the_prompts_share_openings(smollm2, monkeypatch):
    """Whole-split mushroom prompts share half their own tokens in trees of 8; tweets next to nothing."""
    _, tokenizer = smollm2
    shares = {}
    for task in ("mushroom", "tweets"):
        build_task(get_task(task))
        prompts = prompt_ids(tokenizer, load_split(task, "test"))
        shared = common_prefix_length(prompts)
        _, shares[task] = tree_plan([p[shared:] for p in prompts])
    assert shares["mushroom"] < prompt_tree.PACK_AT_MOST < shares["tweets"]
