"""Classical baselines, trained on the same train split the language models saw (the full split).

Tabular tasks (records with `features`): one-hot encoding + decision tree, and + logistic regression.
Text tasks: TF-IDF (word 1-2 grams) + logistic regression. Sentiment tasks with negative/positive
labels also get the VADER lexicon analyzer (vaderSentiment), which needs no training at all.
Each baseline returns one predicted label per test record.

scikit-learn and vaderSentiment load inside the functions (1.5 s to import; --help must answer at once).
"""

from __future__ import annotations

from collections.abc import Callable

SEED = 42


def _tabular(estimator_factory) -> Callable[[list[dict], list[dict]], list[str]]:
    def run(train: list[dict], test: list[dict]) -> list[str]:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(DictVectorizer(sparse=True), estimator_factory())
        model.fit([r["features"] for r in train], [r["output"] for r in train])
        return list(model.predict([r["features"] for r in test]))

    return run


def _decision_tree():
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=SEED)


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, random_state=SEED)


def tfidf_logistic_regression(train: list[dict], test: list[dict]) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), _logistic_regression())
    model.fit([r["input"] for r in train], [r["output"] for r in train])
    return list(model.predict([r["input"] for r in test]))


def vader(labels: list[str]) -> Callable[[list[dict], list[dict]], list[str]]:
    """VADER's compound score with its authors' thresholds: >= 0.05 positive, <= -0.05 negative, else neutral."""

    def run(train: list[dict], test: list[dict]) -> list[str]:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        predicted = []
        for record in test:
            compound = analyzer.polarity_scores(record["input"])["compound"]
            if "neutral" in labels and -0.05 < compound < 0.05:
                predicted.append("neutral")
            else:
                predicted.append("positive" if compound >= (0.05 if "neutral" in labels else 0.0) else "negative")
        return predicted

    return run


def baselines_for(records: list[dict], labels: list[str]) -> dict[str, Callable]:
    """Name -> baseline function for a task, chosen by what its records hold."""
    chosen = {}
    if all("features" in r for r in records[:50]):
        chosen["one-hot + decision tree"] = _tabular(_decision_tree)
        chosen["one-hot + logistic regression"] = _tabular(_logistic_regression)
    else:
        chosen["tf-idf + logistic regression"] = tfidf_logistic_regression
    if {"negative", "positive"} <= set(labels) and set(labels) <= {"negative", "neutral", "positive"}:
        chosen["vader lexicon"] = vader(labels)
    return chosen
