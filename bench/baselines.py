"""Classical baselines, trained on the same train records the language models saw, as a practitioner sets them up.

Tabular tasks (records with `features`): a column whose every present value in the train records is a number
is used as a number; any other column is categorical, one-hot encoded (a value unseen in training encodes as
all zeros). Missing values ("", "?", "NA", "nan", "null", "none") stay missing: the decision tree and
gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) route them natively; logistic regression
sees the median, a missing-value indicator, and numbers standardised. Text tasks: TF-IDF (word 1-2 grams) +
logistic regression, and the sentence embeddings of the encoder the toolkit ships (all-MiniLM-L6-v2, mean
pooled and normalised as sentence-transformers does, frozen) + logistic regression. Sentiment tasks with
negative/positive labels also get the VADER lexicon analyzer (vaderSentiment), which needs no training.

Each baseline returns one predicted label per test record and a phrase saying what it saw, which the row file
keeps and the table's heading shows. scikit-learn, pandas, torch and vaderSentiment load inside the functions
(seconds to import; --help must answer at once).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sft.models import resolve_model

SEED = 42
MISSING = {"", "?", "na", "n/a", "nan", "null", "none"}
EMBEDDING_MODEL = "minilm-l6"  # the encoder the toolkit ships (sft/models.py)
EMBEDDING_BATCH = 64
EMBEDDING_MAX_LENGTH = 256
Baseline = Callable[[list[dict], list[dict]], tuple[list[str], str]]  # (train, test) -> (predictions, what it saw)


def as_number(value) -> float | None:
    """The value as a number, nan where it is missing, None where it is text."""
    if value is None or str(value).strip().lower() in MISSING:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def column_kinds(train: list[dict]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns: numeric where every present train value is a number."""
    columns = list(train[0]["features"])
    numbers = {c: [as_number(r["features"].get(c)) for r in train] for c in columns}
    numeric = [c for c in columns if all(v is not None for v in numbers[c]) and not all(map(math.isnan, numbers[c]))]
    return numeric, [c for c in columns if c not in numeric]


def feature_frame(records: list[dict], numeric: list[str], categorical: list[str]):
    import pandas as pd

    data = {c: [as_number(r["features"].get(c)) for r in records] for c in numeric}
    data.update({c: [str(r["features"].get(c, "")).strip() for r in records] for c in categorical})
    return pd.DataFrame(data, columns=numeric + categorical).astype({c: float for c in numeric})


def saw_text(numeric: list[str], categorical: list[str], numbers_as: str) -> str:
    parts = []
    if numeric:
        parts.append(f"{len(numeric)} numeric column{'s' * (len(numeric) != 1)} as numbers ({numbers_as})")
    if categorical:
        parts.append(f"{len(categorical)} categorical column{'s' * (len(categorical) != 1)} one-hot")
    return ", ".join(parts)


def _tabular(estimator_factory, impute: bool) -> Baseline:
    def run(train: list[dict], test: list[dict]) -> tuple[list[str], str]:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric, categorical = column_kinds(train)
        numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
        steps = [("numeric", numbers if impute else "passthrough", numeric)] if numeric else []
        if categorical:
            steps.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
        model = make_pipeline(ColumnTransformer(steps), estimator_factory())
        model.fit(feature_frame(train, numeric, categorical), [r["output"] for r in train])
        predicted = [str(p) for p in model.predict(feature_frame(test, numeric, categorical))]
        how = "median-imputed with missing indicators, standardised" if impute else "missing values routed natively"
        return predicted, saw_text(numeric, categorical, how)

    return run


def _decision_tree():
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=SEED)


def _gradient_boosting():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=SEED)


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, random_state=SEED)


def tfidf_logistic_regression(train: list[dict], test: list[dict]) -> tuple[list[str], str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), _logistic_regression())
    model.fit([r["input"] for r in train], [r["output"] for r in train])
    return list(model.predict([r["input"] for r in test])), "the text as word 1-2-gram TF-IDF"


_embeddings: dict[str, list[float]] = {}  # text -> embedding, kept for the process: curve sizes share them


def sentence_embeddings(texts: list[str]):
    """all-MiniLM-L6-v2 sentence embeddings (mean over the tokens, L2-normalised, as sentence-transformers pools
    this model), computed once per text in this process."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    # shortest first: a batch holds texts of about one length, so little padding runs through the model
    missing = sorted(dict.fromkeys(t for t in texts if t not in _embeddings), key=len)
    if missing:
        path = resolve_model(EMBEDDING_MODEL).path
        tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
        for start in range(0, len(missing), EMBEDDING_BATCH):
            batch = missing[start : start + EMBEDDING_BATCH]
            encoded = tokenizer(
                batch, padding=True, truncation=True, max_length=EMBEDDING_MAX_LENGTH, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"][..., None].to(hidden.dtype)
            pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
            _embeddings.update(zip(batch, pooled.tolist()))
    return np.array([_embeddings[t] for t in texts])


def embedding_logistic_regression(train: list[dict], test: list[dict]) -> tuple[list[str], str]:
    model = _logistic_regression()
    model.fit(sentence_embeddings([r["input"] for r in train]), [r["output"] for r in train])
    predicted = list(model.predict(sentence_embeddings([r["input"] for r in test])))
    return predicted, "the text as frozen all-MiniLM-L6-v2 sentence embeddings (mean-pooled)"


def vader(labels: list[str]) -> Baseline:
    """VADER's compound score with its authors' thresholds: >= 0.05 positive, <= -0.05 negative, else neutral."""

    def run(train: list[dict], test: list[dict]) -> tuple[list[str], str]:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        predicted = []
        for record in test:
            compound = analyzer.polarity_scores(record["input"])["compound"]
            if "neutral" in labels and -0.05 < compound < 0.05:
                predicted.append("neutral")
            else:
                predicted.append("positive" if compound >= (0.05 if "neutral" in labels else 0.0) else "negative")
        return predicted, "the text, scored by a sentiment lexicon (no training)"

    return run


def baselines_for(records: list[dict], labels: list[str]) -> dict[str, Baseline]:
    """Name -> baseline function for a task, chosen by what its records hold."""
    chosen: dict[str, Baseline] = {}
    if all("features" in r for r in records[:50]):
        chosen["decision tree"] = _tabular(_decision_tree, impute=False)
        chosen["gradient-boosted trees"] = _tabular(_gradient_boosting, impute=False)
        chosen["logistic regression"] = _tabular(_logistic_regression, impute=True)
    else:
        chosen["tf-idf + logistic regression"] = tfidf_logistic_regression
        chosen["minilm embeddings + logistic regression"] = embedding_logistic_regression
    if {"negative", "positive"} <= set(labels) and set(labels) <= {"negative", "neutral", "positive"}:
        chosen["vader lexicon"] = vader(labels)
    return chosen
