"""Score mode on a real model (SmolLM2) against a direct computation; the metrics a training run logs."""

import copy

import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from prompts.build import build_task, load_split
from prompts.fewshot import choose_demonstrations
from prompts.format import prompt_text
from prompts.tasks import get_task
from sft.label_scoring import common_prefix_length, completion_texts, label_metrics, prompt_ids, score_labels
from tests.helpers import mushroom_records


def direct_scores(model, tokenizer, record, labels):
    """Log-probability of each label completion by one plain forward pass over prompt + completion."""

    prompt = prompt_ids(tokenizer, [record])[0]
    scores = {}
    for label, text in completion_texts(tokenizer, labels).items():
        completion = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + completion])
        with torch.inference_mode():
            log_probs = model(input_ids=ids).logits[0].float().log_softmax(-1)
        scores[label] = float(sum(log_probs[len(prompt) - 1 + i, token] for i, token in enumerate(completion)))
    return scores


def test_score_mode_shares_the_prompt_cache_without_changing_the_scores(smollm2):
    model, tokenizer = smollm2
    labels = ["edible", "poisonous"]
    records = mushroom_records(6)
    # Prompts of different lengths in one batch: left padding and position ids must not change a score.
    records[1] = {**records[1], "input": records[1]["input"][:60]}
    scores = score_labels(model, tokenizer, records, labels, batch_size=4, progress=False)
    assert len(scores) == len(records)
    for record, got in zip(records, scores):
        assert set(got) == set(labels)
        expected = direct_scores(model, tokenizer, record, labels)
        for label in labels:
            assert got[label] == pytest.approx(expected[label], abs=2e-3)


def test_shared_prefix_leaves_every_prompt_its_last_token():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[7, 2], [1, 2]]) == 0
    assert common_prefix_length([[5]]) == 0


def test_score_mode_on_identical_prompts_and_on_one_record(smollm2):
    """The shared prefix is then all of a prompt but its last token; the scores must not notice."""
    model, tokenizer = smollm2
    labels = ["edible", "poisonous"]
    record = mushroom_records(1)[0]
    expected = direct_scores(model, tokenizer, record, labels)
    for records in ([record, record], [record]):
        for got in score_labels(model, tokenizer, records, labels, batch_size=4, progress=False):
            for label in labels:
                assert got[label] == pytest.approx(expected[label], abs=2e-3)


def test_label_metrics_are_scikit_learns():
    labels = ["negative", "neutral", "positive"]
    gold = ["negative", "neutral", "positive", "positive", "neutral"]
    predicted = ["negative", "positive", "positive", "neutral", "neutral"]
    got = label_metrics(predicted, gold, labels)
    assert got["label_accuracy"] == pytest.approx(accuracy_score(gold, predicted)) == pytest.approx(0.6)
    assert got["macro_f1"] == pytest.approx(f1_score(gold, predicted, labels=labels, average="macro"))
    # a label never predicted and never gold counts as 0 in the macro mean, as in the benchmark
    with_unused = label_metrics(predicted, gold, [*labels, "mixed"])
    assert with_unused["macro_f1"] == pytest.approx(got["macro_f1"] * 3 / 4)


def direct_fewshot_scores(model, tokenizer, record, labels, demonstrations):
    """Each label's log-probability after the whole k-shot prompt, by one plain forward pass (no cache)."""
    prompt = prompt_ids(tokenizer, [record], demonstrations)[0]
    scores = {}
    for label, text in completion_texts(tokenizer, labels).items():
        completion = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt + completion]), use_cache=False).logits[0]
        log_probs = logits.double().log_softmax(-1)
        scores[label] = float(sum(log_probs[len(prompt) - 1 + i, token] for i, token in enumerate(completion)))
    return scores


@pytest.mark.parametrize("template", ["chat", "alpaca text"])
def test_in_context_scores_equal_a_direct_full_prompt_log_likelihood(smollm2, template):
    """4 demonstrations before each prompt (earlier chat turns, or earlier answered Alpaca records): the shared
    prefix then holds them, and score mode must still give each label the log-likelihood of one plain pass."""
    model, tokenizer = smollm2
    if template == "alpaca text":
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.chat_template = None
    model = model.float()
    labels = ["edible", "poisonous"]
    build_task(get_task("mushroom"))
    train, held_out = load_split("mushroom", "train"), load_split("mushroom", "val") + load_split("mushroom", "test")
    demonstrations = choose_demonstrations(train, held_out, labels, 4)
    records = mushroom_records(3)
    text = prompt_text(records[0], tokenizer, demonstrations)
    for shown in demonstrations:  # each demonstration is in the prompt, with its answer, before the record
        assert shown["input"] in text and text.index(shown["input"]) < text.index(records[0]["input"])
    got = score_labels(model, tokenizer, records, labels, batch_size=2, progress=False, demonstrations=demonstrations)
    plain = score_labels(model, tokenizer, records, labels, batch_size=2, progress=False)
    for record, scores, zero_shot in zip(records, got, plain):
        expected = direct_fewshot_scores(model, tokenizer, record, labels, demonstrations)
        for label in labels:
            assert scores[label] == pytest.approx(expected[label], abs=1e-4)
        assert scores != zero_shot  # the demonstrations changed what the model saw
