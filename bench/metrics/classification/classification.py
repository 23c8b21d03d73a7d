"""Local `evaluate` module: every classification score the benchmark reports, computed with scikit-learn.

The Hub's `accuracy`/`f1` modules are downloaded by name and cannot load offline; this one loads from
its folder: `evaluate.load("bench/metrics/classification")`. Predictions and references are label
strings; a prediction outside `labels` (an unparsable generated answer) counts as wrong and as invalid.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

INVALID = "<invalid>"

_DESCRIPTION = (
    "Accuracy, macro/weighted F1, macro recall, per-class precision/recall/F1, confusion matrix, invalid rate."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): predicted labels; anything not in `labels` is an invalid answer.
    references (list of str): gold labels.
    labels (list of str): the task's label set, in display order.
Returns:
    accuracy, macro_f1, weighted_f1, macro_recall, invalid_rate, per_class {label: {precision, recall, f1, support}},
    confusion (rows gold, columns predicted; one extra last column counts invalid answers).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, labels):
        labels = list(labels)
        predicted = [p if p in labels else INVALID for p in predictions]
        # Invalid answers are a class of their own for sklearn, so they count as errors in every average;
        # the averages are still taken over the task's labels only.
        kwargs = {"labels": labels, "zero_division": 0}
        precision, recall, f1, support = precision_recall_fscore_support(references, predicted, **kwargs)
        return {
            "accuracy": float(accuracy_score(references, predicted)),
            "macro_f1": float(f1_score(references, predicted, average="macro", **kwargs)),
            "weighted_f1": float(f1_score(references, predicted, average="weighted", **kwargs)),
            "macro_recall": float(recall_score(references, predicted, average="macro", **kwargs)),
            "invalid_rate": sum(p == INVALID for p in predicted) / max(len(predicted), 1),
            "per_class": {
                label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for label, p, r, f, s in zip(labels, precision, recall, f1, support)
            },
            "confusion": confusion_matrix(references, predicted, labels=labels + [INVALID])[: len(labels)].tolist(),
        }
