"""Classification rows: every model, base and fine-tuned, and the baselines on the same test records.

  * each generative model as the base model and as every finished fine-tuned run of it, in `score`
    mode (labels ranked by log-likelihood) and `generate` mode (greedy answer + parser);
  * each encoder (and lora-head run) by argmax over its classifier head; a base encoder's head is
    untrained, which is the honest "before";
  * classical baselines trained on the same train split (bench/baselines.py).
Metrics come from the local evaluate module bench/metrics/classification (scikit-learn underneath).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from bench.baselines import baselines_for
from bench.classifier import load_head_model, predict_labels
from bench.generative import ModelCache, generate_answers, parse_label
from bench.measure import PeakMemory
from bench.rows import Row, fingerprint, trained_runs
from bench.statistics import classification_intervals
from common.hardware import pick_precision
from sft import run_folders
from sft.config import TrainConfig
from sft.label_scoring import score_labels
from sft.models import model_slug, resolve_model, uses_classifier_head

METRICS_MODULE = str(Path(__file__).parent / "metrics" / "classification")
MODES = ("score", "generate")
SAMPLES = 3


@functools.lru_cache(maxsize=1)
def metrics_module():
    import evaluate  # 6 s to import: loaded when the first row is scored

    return evaluate.load(METRICS_MODULE)


def plan_classification_rows(
    slug: str,
    configs: list[TrainConfig],
    split_hash: str,
    modes: tuple[str, ...],
    with_baselines: bool,
    records: list[dict],
    labels: list[str],
) -> list[Row]:
    rows: list[Row] = []
    seen_bases = set()
    for config, run_dir, overrides in trained_runs(slug, configs, split_hash):
        kind = resolve_model(config.model).kind
        head = uses_classifier_head(kind, config.method)
        row_modes = ("head",) if head else modes
        name = model_slug(config.model)
        # A causal LM's base row is the LM itself: a lora-head run's untrained head is no model to compare.
        if (name, head) not in seen_bases and not (kind == "causal" and head):
            seen_bases.add((name, head))
            rows += [
                Row(f"{name}.base.{mode}", slug, name, "base", "", mode, kind, len(rows) + i)
                for i, mode in enumerate(row_modes)
            ]
        if run_dir is not None:
            source = run_folders.fingerprint(run_dir)
            rows += [
                Row(
                    f"{name}-{config.method}.{mode}",
                    slug,
                    name,
                    "fine-tuned",
                    config.method,
                    mode,
                    kind,
                    len(rows) + i,
                    run_dir,
                    source,
                    overrides,
                )
                for i, mode in enumerate(row_modes)
            ]
    if with_baselines:
        for baseline in baselines_for(records, labels):
            row_id = "baseline." + baseline.replace(" + ", "-").replace(" ", "-")
            rows.append(Row(row_id, slug, baseline, "baseline", "", "baseline", "baseline", len(rows)))
    return rows


class ClassificationJob:
    """Predictions and metrics of classification rows on one task's test records."""

    task_kind = "classification"

    def __init__(
        self, records: list[dict], test_size: int, train_records: list[dict], meta: dict, device: str, batch_size: int
    ):
        self.records, self.test_size, self.train_records = records, test_size, train_records
        self.labels = meta["labels"]
        self.device, self.batch_size = device, batch_size
        self.models = ModelCache(device)
        self.records_print = fingerprint([meta["split_hash"], [r["id"] for r in records]])

    def inputs_fingerprint(self, row: Row) -> str:
        return self.records_print

    def context(self, row: Row) -> dict:
        precision = None if row.kind == "baseline" else pick_precision(device=self.device)
        return {
            "examples": len(self.records),
            "test_size": self.test_size,
            "labels": self.labels,
            "device": self.device,
            "precision": precision,
        }

    def predictor(self, row: Row):
        """A function returning (predicted labels, per-label scores or None, raw answers or None)."""
        records, labels, batch_size = self.records, self.labels, self.batch_size
        if row.kind == "baseline":
            baseline = baselines_for(records, labels)[row.model]
            return lambda: (baseline(self.train_records, records), None, None)
        if row.mode == "head":
            model, tokenizer, max_length = load_head_model(row.model, row.run_dir, labels, self.device)
            return lambda: (*predict_labels(model, tokenizer, max_length, row.kind, records, batch_size * 2), None)
        model, tokenizer = self.models.get(row.model, row.run_dir)
        if row.mode == "score":

            def score():
                scores = score_labels(model, tokenizer, records, labels, batch_size=batch_size)
                return [max(s, key=s.get) for s in scores], scores, None

            return score

        def generate():
            answers = generate_answers(model, tokenizer, records, labels, batch_size=batch_size)
            return [parse_label(a, labels) for a in answers], None, answers

        return generate

    def compute(self, row: Row) -> dict:
        """The timing covers predicting (baselines: fitting too), not loading the model."""
        predict = self.predictor(row)
        with PeakMemory(self.device) as memory:
            started = time.perf_counter()
            predicted, scores, answers = predict()
            seconds = time.perf_counter() - started
        gold = [r["output"] for r in self.records]
        metrics = metrics_module().compute(predictions=predicted, references=gold, labels=self.labels)
        predictions = []
        for i, record in enumerate(self.records):
            line = {"id": record["id"], "gold": record["output"], "predicted": predicted[i]}
            if scores is not None:
                line["scores"] = scores[i]
            if answers is not None:
                line["answer"] = answers[i]
            predictions.append(line)
        samples = [
            {
                "id": p["id"],
                "input": record["input"],
                "gold": p["gold"],
                "predicted": p["predicted"],
                **({"answer": p["answer"]} if "answer" in p else {}),
            }
            for p, record in zip(predictions[:SAMPLES], self.records)
        ]
        return {
            "metrics": metrics,
            "intervals": classification_intervals(gold, predicted, self.labels),
            "correct": "".join("1" if p == g else "0" for p, g in zip(predicted, gold, strict=True)),  # McNemar
            "seconds": round(seconds, 2),
            "examples_per_s": round(len(self.records) / seconds, 2),
            "peak_memory_mb": round(memory.peak_mb),
            "predictions": predictions,
            "samples": samples,
        }

    def describe(self, result: dict) -> str:
        m = result["metrics"]
        return (
            f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, invalid {m['invalid_rate']:.1%}, "
            f"{result['examples_per_s']:.1f} ex/s"
        )
