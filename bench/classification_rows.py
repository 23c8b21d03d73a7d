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
from collections.abc import Callable
from pathlib import Path

from bench.baselines import baselines_for
from bench.classifier import load_head_model, predict_labels
from bench.generative import ModelCache, generate_answers, parse_label
from bench.measure import PeakMemory
from bench.rows import Row, trained_runs
from bench.statistics import classification_intervals
from prompts.sampling import select_train_records
from sft import run_folders
from sft.label_scoring import score_and_answer, score_labels
from sft.models import model_slug, resolve_model, uses_classifier_head
from sft.run_groups import WHOLE, RunGroup
from sft.trunk import TrunkTape, adapter_boundary
from sftbench_common import processes
from sftbench_common.fileio import content_hash
from sftbench_common.hardware import pick_precision
from sftbench_common.logs import get_logger
from sftbench_common.paths import results_dir

log = get_logger(__name__)

METRICS_MODULE = str(Path(__file__).parent / "metrics" / "classification")
MODES = ("score", "generate")
SAMPLES = 3


@functools.lru_cache(maxsize=1)
def metrics_module():
    import evaluate  # 6 s to import: loaded when the first row is scored

    return evaluate.load(METRICS_MODULE)


def base_rows(name: str, kind: str, modes: tuple[str, ...], shots: list[int], slug: str, first: int) -> list[Row]:
    """A model's base rows: zero-shot, and with k in-context demonstrations for each k > 0 of `shots`."""
    rows = []
    for k in shots:
        state_id = "base" if k == 0 else f"base-{k}shot"
        for mode in modes:
            extra = {"shots": k} if k else {}
            rows.append(
                Row(f"{name}.{state_id}.{mode}", slug, name, "base", "", mode, kind, first + len(rows), extra=extra)
            )
    return rows


def baseline_rows(slug: str, records: list[dict], labels: list[str], sizes: list[int | None], first: int) -> list[Row]:
    """Each baseline trained on the whole train split and, for a learning curve, on its first `size` records."""
    rows = []
    for size in sizes:
        for baseline in baselines_for(records, labels):
            row_id = "baseline." + baseline.replace(" + ", "-").replace(" ", "-") + (f".n{size}" if size else "")
            extra = {"train_size": size} if size else {}
            rows.append(
                Row(row_id, slug, baseline, "baseline", "", "baseline", "baseline", first + len(rows), extra=extra)
            )
    return rows


def fine_tuned_rows(
    slug: str,
    group: RunGroup,
    model: tuple[str, str],
    split_hash: str,
    row_modes: tuple[str, ...],
    all_settings: bool,
    first: int,
    root: Path,
) -> list[Row]:
    """The group's benchmarked runs (under the results folder `root`): every seed of its (chosen) setting; with
    `all_settings`, a sweep's other settings too, marked as not chosen."""
    configs = group.chosen_configs(root)
    if configs is None:
        log.info(
            f"  {slug}: {group.stem}: the sweep's grid is not finished, so no setting is chosen yet; not benchmarked"
        )
        return []
    info = group.describe(root)
    others = []
    if group.swept and all_settings:
        chosen = {c.run_dir(root) for c in configs}
        others = [c for c in group.grid() if c.run_dir(root) not in chosen]
    rows: list[Row] = []
    for config, run_dir, overrides in trained_runs(slug, configs + others, split_hash, root):
        if run_dir is None:
            continue
        extra = {**info, **({"seed": config.seed} if group.seeds else {})}
        if config in others:
            extra = {**extra, "not_chosen": True}
        name, kind = model  # every run of a group is of one model
        source = run_folders.fingerprint(run_dir)
        rows += [
            Row(
                f"{run_dir.name}.{mode}",
                slug,
                name,
                "fine-tuned",
                config.method,
                mode,
                kind,
                first + len(rows) + i,
                run_dir,
                source,
                overrides,
                extra,
            )
            for i, mode in enumerate(row_modes)
        ]
    return rows


def plan_classification_rows(
    slug: str,
    groups: list[RunGroup],
    split_hash: str,
    modes: tuple[str, ...],
    with_baselines: bool,
    records: list[dict],
    labels: list[str],
    fewshot: list[int] = (0,),
    all_settings: bool = False,
    root: Path | None = None,
    kind_of: Callable[[str], str] = lambda model: resolve_model(model).kind,
) -> list[Row]:
    root = root or results_dir()
    rows: list[Row] = []
    seen_bases, sizes = set(), []
    for group in groups:
        kind = kind_of(group.base.model)
        head = uses_classifier_head(kind, group.base.method)
        row_modes = ("head",) if head else modes
        name = model_slug(group.base.model)
        # A causal LM's base row is the LM itself: a lora-head run's untrained head is no model to compare.
        if (name, head) not in seen_bases and not (kind == "causal" and head):
            seen_bases.add((name, head))
            rows += base_rows(name, kind, row_modes, list(fewshot) if kind == "causal" else [0], slug, len(rows))
        if group.size not in (None, WHOLE, *sizes):  # the whole split's baselines are the plain ones
            sizes.append(group.size)
        rows += fine_tuned_rows(slug, group, (name, kind), split_hash, row_modes, all_settings, len(rows), root)
    if with_baselines:
        rows += baseline_rows(slug, records, labels, [None, *sorted(sizes)], len(rows))
    return rows


def answer_key(row: Row) -> tuple:
    """What a score row and a generate row of the same model share: the model, its run and its demonstrations."""
    return (row.model, row.run_dir, row.extra.get("shots", 0))


def max_answer_tokens(tokenizer, labels: list[str]) -> int:
    """generate mode's answer length: the longest label's tokens and a few more (bench/generative.py)."""
    return max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels) + 6


class ClassificationJob:
    """Predictions and metrics of classification rows on one task's test records."""

    task_kind = "classification"

    def __init__(
        self,
        records: list[dict],
        test_size: int,
        train_records: list[dict],
        meta: dict,
        device: str,
        batch_size: int,
        demonstrations: dict[int, list[dict]] | None = None,
        shared_trunk: dict[str, int] | None = None,
        generate_too: set[tuple] | None = None,
    ):
        self.records, self.test_size, self.train_records = records, test_size, train_records
        self.labels = meta["labels"]
        self.device, self.batch_size = device, batch_size
        self.demonstrations = demonstrations or {}  # k -> the k in-context records of the k-shot rows
        self.models = ModelCache(device)
        self.records_print = content_hash([meta["split_hash"], [r["id"] for r in records]])
        self.shared_trunk = shared_trunk  # model -> the boundary its score rows share the trunk pass below
        self.tapes: dict[str, TrunkTape] = {}
        self.spread = processes.world_size() > 1  # a launcher's processes share each row's batches
        self.generate_too = set(generate_too or ())  # answer_key of score rows that also answer for generate rows
        # answer_key -> (answers, seconds answering beyond the score pass, how many were read off its scores)
        self.answered: dict[tuple, tuple[list[str], float, int]] = {}

    def inputs_fingerprint(self, row: Row) -> str:
        shots = row.extra.get("shots")
        if shots:  # other demonstrations: another measurement
            return content_hash([self.records_print, [r["id"] for r in self.demonstrations[shots]]])
        return self.records_print

    def train_subset(self, row: Row) -> list[dict]:
        """What a baseline trains on: the train split, or its first train_size records (a learning curve)."""
        return select_train_records(self.train_records, row.extra.get("train_size"))

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
        """A function returning (predicted labels, per-label scores or None, raw answers or None, fields for the
        row file)."""
        records, labels, batch_size = self.records, self.labels, self.batch_size
        if row.kind == "baseline":
            baseline = baselines_for(records, labels)[row.model]

            def fit_and_predict():
                predicted, saw = baseline(self.train_subset(row), records)
                return predicted, None, None, {"baseline_input": saw}

            return fit_and_predict
        if row.mode == "head":
            model, tokenizer, max_length = load_head_model(row.model, row.run_dir, labels, self.device)
            spread = self.spread
            return lambda: (
                *predict_labels(model, tokenizer, max_length, row.kind, records, batch_size * 2, spread),
                None,
                {},
            )
        if row.mode == "score":
            return self.scorer(row)
        if (stashed := self.answered.pop(answer_key(row), None)) is not None:
            answers, seconds, read_off = stashed
            # answers_from_scores: greedy answers that follow a label's tokens to the end, read off the score pass
            shared = {"seconds": seconds, "answers_from_scores": read_off}

            def answered():
                return [parse_label(a, labels) for a in answers], None, answers, shared

            return answered
        model, tokenizer = self.models.get(row.model, row.run_dir)
        shown = self.demonstrations.get(row.extra.get("shots", 0), [])

        def generate():
            answers = generate_answers(
                model, tokenizer, records, labels, batch_size=batch_size, demonstrations=shown, spread=self.spread
            )
            return [parse_label(a, labels) for a in answers], None, answers, {}

        return generate

    def trunk_tape(self, row: Row) -> TrunkTape | None:
        """The tape a score row records (the model's zero-shot base row) or replays (a fine-tuned row whose
        adapters sit at or above the boundary); recorded first, with the base model's trunk alone, where the
        base row was measured by an earlier bench."""
        boundary = self.shared_trunk.get(row.model)
        if not boundary or row.extra.get("shots") or row.state not in ("base", "fine-tuned"):
            return None
        if row.state == "base":
            return TrunkTape(boundary)
        if adapter_boundary(row.run_dir) < boundary:
            return None
        if row.model not in self.tapes:
            model, tokenizer = self.models.get(row.model, None)
            tape = TrunkTape(boundary)
            with tape.recording(model, trunk_only=True):
                score_labels(model, tokenizer, self.records, self.labels, self.batch_size, spread=self.spread)
            self.tapes[row.model] = tape
        return self.tapes[row.model]

    def scorer(self, row: Row):
        """Score mode: every label's log-likelihood. The zero-shot base row records the trunk's pass; the rows
        of fine-tuned models above it replay that pass through their upper layers (sft/trunk.py). Where the
        model, run and demonstrations are measured in generate mode too, the same pass answers for that row."""
        tape = self.trunk_tape(row)
        model, tokenizer = self.models.get(row.model, row.run_dir)
        shown = self.demonstrations.get(row.extra.get("shots", 0), [])
        records, labels, batch_size = self.records, self.labels, self.batch_size
        answer_tokens = max_answer_tokens(tokenizer, labels) if answer_key(row) in self.generate_too else 0
        details = {}
        scoring = model
        if tape is not None and row.state == "base":
            scoring = tape.recorder(model)
        elif tape is not None:
            scoring = tape.replaying(model)
            details["shared_trunk_layers"] = tape.boundary  # layers 0..b-1 computed once, by the base model

        def score():
            scores, answers, answering, read_off = score_and_answer(
                scoring, tokenizer, records, labels, batch_size, True, shown, answer_tokens, self.spread
            )
            if tape is not None and row.state == "base":
                self.tapes[row.model] = tape
            if answers is not None:  # the generate row's answers, from this pass over the prompts
                self.answered[answer_key(row)] = (answers, answering, read_off)
                details["excluded_seconds"] = answering
            return [max(s, key=s.get) for s in scores], scores, None, details

        return score

    def compute(self, row: Row) -> dict:
        """The timing covers predicting (baselines: fitting too), not loading the model."""
        predict = self.predictor(row)
        with PeakMemory(self.device) as memory:
            started = time.perf_counter()
            predicted, scores, answers, details = predict()
            # a score row that also generated the generate row's answers counts its own part; that row, the rest
            seconds = details.pop("seconds", time.perf_counter() - started) - details.pop("excluded_seconds", 0)
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
        shots = row.extra.get("shots")
        return {
            **details,
            **({"demonstrations": [r["id"] for r in self.demonstrations[shots]]} if shots else {}),
            "metrics": metrics,
            "intervals": classification_intervals(gold, predicted, self.labels),
            "correct": "".join("1" if p == g else "0" for p, g in zip(predicted, gold, strict=True)),  # McNemar
            "predicted": predicted,  # each test record's answer, in records.jsonl's order (the results page)
            "seconds": round(seconds, 2),
            "examples_per_s": round(len(self.records) / max(seconds, 1e-3), 2),
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
