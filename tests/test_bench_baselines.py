"""Baselines as a practitioner sets them up (bench/baselines.py): numbers as numbers, missing values handled,
categories one-hot, gradient-boosted trees beside the tree and logistic regression; text embeddings from the
shipped encoder."""

import random

import pytest

from bench.baselines import as_number, baselines_for, column_kinds


def measurements(n: int, seed: int) -> list[dict]:
    """A penguin-like table: two measurements decide the label (a threshold no one-hot column can express), an
    island column, a third of one measurement missing, a noise column."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        bill, flipper = rng.uniform(30, 60), rng.uniform(170, 230)
        island = rng.choice(["Biscoe", "Dream", "Torgersen"])
        label = "gentoo" if flipper > 205 else "adelie" if bill < 45 else "chinstrap"
        features = {
            "bill_length_mm": f"{bill:.1f}" if rng.random() > 0.3 else "NA",
            "flipper_length_mm": f"{flipper:.0f}",
            "body_mass_g": f"{rng.uniform(3000, 6000):.0f}",
            "island": island,
            "sex": rng.choice(["male", "female", ""]),
        }
        records.append({"id": f"r{i}", "input": str(features), "output": label, "features": features})
    return records


def test_numeric_columns_are_numbers_and_the_rest_categories():
    train = measurements(200, 0)
    numeric, categorical = column_kinds(train)
    assert numeric == ["bill_length_mm", "flipper_length_mm", "body_mass_g"]
    assert categorical == ["island", "sex"]
    assert as_number("NA") != as_number("NA") and as_number(" 3.5 ") == 3.5 and as_number("Dream") is None


def test_tabular_baselines_use_thresholds_on_unseen_numbers_and_say_what_they_saw():
    """Every test value of a measurement is new to training: one-hot trees would guess; numbers as numbers find
    the thresholds. Missing values (NA, empty) neither crash nor leak."""
    train, test = measurements(300, 1), measurements(120, 2)
    labels = ["adelie", "chinstrap", "gentoo"]
    baselines = baselines_for(train, labels)
    assert list(baselines) == ["decision tree", "gradient-boosted trees", "logistic regression"]
    gold = [r["output"] for r in test]
    for name, baseline in baselines.items():
        predicted, saw = baseline(train, test)
        accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
        floor = 0.8 if name == "logistic regression" else 0.85  # the label is an interaction: LR is weaker
        assert accuracy >= floor, (name, accuracy)
        assert saw.startswith("3 numeric columns as numbers (") and saw.endswith("2 categorical columns one-hot")
        assert ("median-imputed" in saw) == (name == "logistic regression")


def test_an_unseen_category_in_test_is_no_error():
    train, test = measurements(100, 3), measurements(20, 4)
    test[0]["features"]["island"] = "Anvers"
    for baseline in baselines_for(train, ["adelie", "chinstrap", "gentoo"]).values():
        predicted, _ = baseline(train, test)
        assert len(predicted) == 20


@pytest.mark.slow
def test_text_tasks_get_tfidf_and_sentence_embeddings_from_the_shipped_encoder():
    words = {"positive": ["wonderful", "great", "lovely", "superb"], "negative": ["awful", "terrible", "dull", "bad"]}
    rng = random.Random(0)

    def records(n):
        out = []
        for i in range(n):
            label = rng.choice(sorted(words))
            out.append({"id": str(i), "input": f"the film was {rng.choice(words[label])} today", "output": label})
        return out

    train, test = records(80), records(40)
    baselines = baselines_for(train, ["negative", "positive"])
    assert list(baselines) == [
        "tf-idf + logistic regression",
        "minilm embeddings + logistic regression",
        "vader lexicon",
    ]
    predicted, saw = baselines["minilm embeddings + logistic regression"](train, test)
    assert "all-MiniLM-L6-v2" in saw
    assert sum(p == r["output"] for p, r in zip(predicted, test)) / len(test) >= 0.9
