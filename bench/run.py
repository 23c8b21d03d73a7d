"""Benchmark every model of an experiment, base and fine-tuned, on each task's held-out test split.

    python -m bench.run --experiment default          # `make bench`
    python -m bench.run --experiment default --only mushroom --modes score
    python -m bench.run --experiment full --limit 0   # the whole test split

Rows per task, all on the same test records:
  * each generative model as the base model and as every finished fine-tuned run of it, in `score`
    mode (labels ranked by log-likelihood) and `generate` mode (greedy answer + parser);
  * each encoder (and lora-head run) by argmax over its classifier head; a base encoder's head is
    untrained, which is the honest "before";
  * classical baselines trained on the same train split (bench/baselines.py).
Domain-text tasks (django-docs, domain:PATH) instead get perplexity on the test blocks and BLEU/chrF of
greedy continuations, base vs fine-tuned (bench/domain.py), plus an optional API model (--api-base).

Each row writes results/<task>/predictions/<row>.jsonl, then results/<task>/rows/<row>.json (its
metrics; written last, atomically, so a row file means a finished row). Rows already there for the same
test records and the same trained run are skipped, so an interrupted benchmark resumes; --force
recomputes. Finally the report (bench/report.py) is rebuilt from those files alone.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from prompts.build import build_task, load_meta, load_split
from prompts.paths import REPO_ROOT, results_dir
from prompts.tasks import get_task
from sft import runs
from sft.config import TrainConfig, task_slug, to_yaml
from sft.errors import run_cli
from sft.fileio import atomic_write_json, atomic_write_jsonl
from sft.models import model_slug

METRICS_MODULE = str(Path(__file__).parent / "metrics" / "classification")
MODES = ("score", "generate")
SAMPLES = 3


@dataclass
class Row:
    row_id: str
    task: str
    model: str
    state: str               # base | fine-tuned | baseline
    method: str              # lora | qlora | full | lora-head | "" (base) | baseline name
    mode: str                # score | generate | head | baseline
    kind: str                # causal | encoder | baseline
    order: int
    run_dir: Path | None = None

    @property
    def label(self) -> str:
        return self.model if self.state == "baseline" else f"{self.model} {self.state}"


# ---------------------------------------------------------------- what to benchmark

def plan_rows(slug: str, configs: list[TrainConfig], modes: tuple[str, ...], with_baselines: bool,
              records: list[dict], labels: list[str]) -> list[Row]:
    from bench.baselines import baselines_for
    from sft.models import resolve_model

    rows, order, seen_bases = [], 0, set()
    for config in configs:
        kind = resolve_model(config.model).kind
        head = kind == "encoder" or config.method == "lora-head"
        name = model_slug(config.model)
        if (name, head) not in seen_bases and not (kind == "causal" and head):
            seen_bases.add((name, head))
            for mode in (("head",) if head else modes):
                rows.append(Row(f"{name}.base.{mode}", slug, name, "base", "", mode, kind, order))
                order += 1
        run_dir = config.run_dir(results_dir())
        state = runs.state(run_dir, to_yaml(config))
        if state != "finished":
            print(f"  {slug}: {run_dir.name} is {state}, not benchmarked (run `make train-all` first)")
            continue
        for mode in (("head",) if head else modes):
            rows.append(Row(f"{name}-{config.method}.{mode}", slug, name, "fine-tuned", config.method, mode, kind,
                            order, run_dir))
            order += 1
    if with_baselines:
        for baseline in baselines_for(records, labels):
            rows.append(Row("baseline." + baseline.replace(" + ", "-").replace(" ", "-"), slug, baseline, "baseline",
                            baseline, "baseline", "baseline", order))
            order += 1
    return rows


def run_fingerprint(run_dir: Path | None) -> str | None:
    """Changes whenever the run is retrained: its config and its finish time."""
    if run_dir is None:
        return None
    info = runs.read_run(run_dir)
    return hashlib.sha256(((run_dir / "config.yaml").read_text() + str(info.get("finished"))).encode()).hexdigest()[:16]


def records_fingerprint(records: list[dict]) -> str:
    return hashlib.sha256("\n".join(r["id"] for r in records).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- measuring

class PeakMemory:
    """Peak memory while the block runs: CUDA max allocated, or this process's resident set on CPU."""

    def __init__(self, device: str):
        self.device, self.peak_mb = device, 0.0

    def __enter__(self):
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
            return self
        import psutil

        process, self._stop = psutil.Process(), threading.Event()

        def sample():
            while not self._stop.is_set():
                self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
                self._stop.wait(0.05)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            import torch

            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._stop.set()
            self._thread.join()
        return False


def inference_dtype(device: str):
    from sft.hardware import pick_precision, torch_dtype

    return torch_dtype(pick_precision(device=device))


def load_causal(row: Row, device: str, cache: dict):
    """The row's generative model, kept loaded across its score and generate rows."""
    from bench.generative import load_for_inference

    key = (row.model, str(row.run_dir))
    if cache.get("key") != key:
        cache.clear()
        model, tokenizer = load_for_inference(row.model, row.run_dir, dtype=inference_dtype(device))
        cache.update(key=key, model=model.to(device), tokenizer=tokenizer)
    return cache["model"], cache["tokenizer"]


def predict_causal(model, tokenizer, mode, records, labels, batch_size):
    """(predicted labels, per-label scores or None, raw answers or None) for a generative row."""
    from bench.generative import generate_answers, parse_label, score_labels

    if mode == "score":
        scores = score_labels(model, tokenizer, records, labels, batch_size=batch_size)
        return [max(s, key=s.get) for s in scores], scores, None
    answers = generate_answers(model, tokenizer, records, labels, batch_size=batch_size)
    return [parse_label(a, labels) for a in answers], None, answers


def load_head(row: Row, labels: list[str], device: str):
    """(model, tokenizer, max_length) of an encoder or lora-head row; a base encoder gets a seeded random head."""
    import torch
    from transformers import AutoTokenizer

    from bench.classifier import load_run_classifier
    from sft.models import resolve_model
    from sft.train_classifier import load_classifier

    if row.run_dir is None:
        torch.manual_seed(42)
        resolved = resolve_model(row.model)
        return load_classifier(resolved.path, labels).eval().to(device), AutoTokenizer.from_pretrained(resolved.path), 256
    model, tokenizer, config = load_run_classifier(row.run_dir)
    return model.to(device), tokenizer, config.get("max_length", 256)


def predict_head(model, tokenizer, max_length, kind, records, batch_size):
    from bench.classifier import predict_proba
    from sft.train_classifier import classifier_text

    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    probs = predict_proba(model, tokenizer, [classifier_text(r, kind) for r in records], batch_size=batch_size * 2,
                          max_length=max_length)
    scores = [{label: float(p) for label, p in zip(model_labels, row_probs)} for row_probs in probs]
    return [max(s, key=s.get) for s in scores], scores, None


@functools.lru_cache(maxsize=1)
def metrics_module():
    import evaluate

    return evaluate.load(METRICS_MODULE)


def bench_row(row: Row, records, train_records, labels, device, batch_size, cache) -> dict:
    """Predictions and metrics of one row; the timing covers predicting (baselines: fitting too), not loading."""
    from bench.baselines import baselines_for

    if row.kind == "baseline":
        baseline = baselines_for(records, labels)[row.model]
        predict = lambda: (baseline(train_records, records), None, None)  # noqa: E731
    elif row.mode == "head":
        model, tokenizer, max_length = load_head(row, labels, device)
        predict = lambda: predict_head(model, tokenizer, max_length, row.kind, records, batch_size)  # noqa: E731
    else:
        model, tokenizer = load_causal(row, device, cache)
        predict = lambda: predict_causal(model, tokenizer, row.mode, records, labels, batch_size)  # noqa: E731
    with PeakMemory(device) as memory:
        started = time.perf_counter()
        predicted, scores, answers = predict()
        seconds = time.perf_counter() - started
    metrics = metrics_module().compute(predictions=predicted, references=[r["output"] for r in records], labels=labels)
    predictions = []
    for i, record in enumerate(records):
        line = {"id": record["id"], "gold": record["output"], "predicted": predicted[i]}
        if scores is not None:
            line["scores"] = scores[i]
        if answers is not None:
            line["answer"] = answers[i]
        predictions.append(line)
    return {"metrics": metrics, "seconds": round(seconds, 2), "examples_per_s": round(len(records) / seconds, 2),
            "peak_memory_mb": round(memory.peak_mb), "predictions": predictions}


# ---------------------------------------------------------------- the command

def already_done(row_path: Path, records_print: str, run_print: str | None, force: bool) -> bool:
    if force or not row_path.is_file():
        return False
    saved = json.loads(row_path.read_text())
    return saved.get("records_fingerprint") == records_print and saved.get("run_fingerprint") == run_print


def run_path(run_dir: Path | None) -> str | None:
    if run_dir is None:
        return None
    return str(run_dir.relative_to(REPO_ROOT)) if run_dir.is_relative_to(REPO_ROOT) else str(run_dir)


def bench_task(slug: str, task_options: dict, configs: list[TrainConfig], args, device: str) -> int:
    if build_task(get_task(configs[0].task, **task_options)).get("kind") == "domain":
        return bench_domain_task(slug, configs, args, device)
    labels = load_meta(slug)["labels"]
    test = load_split(slug, "test")
    records = test[:args.limit] if args.limit else test
    train_records = load_split(slug, "train")
    rows = plan_rows(slug, configs, tuple(args.modes), not args.no_baselines, records, labels)
    out = results_dir() / slug
    fingerprint = records_fingerprint(records)
    done, cache = 0, {}
    print(f"{slug}: {len(rows)} row(s) on {len(records)} of {len(test)} test records")
    for row in rows:
        row_path = out / "rows" / f"{row.row_id}.json"
        source = run_fingerprint(row.run_dir)
        if already_done(row_path, fingerprint, source, args.force):
            print(f"  [done] {row.label} ({row.mode})")
            continue
        print(f"  [....] {row.label} ({row.mode})", flush=True)
        result = bench_row(row, records, train_records, labels, device, args.batch_size, cache)
        predictions = result.pop("predictions")
        atomic_write_jsonl(out / "predictions" / f"{row.row_id}.jsonl", predictions)
        by_id = {r["id"]: r for r in records}
        samples = [{"id": p["id"], "input": by_id[p["id"]]["input"], "gold": p["gold"], "predicted": p["predicted"],
                    **({"answer": p["answer"]} if "answer" in p else {})} for p in predictions[:SAMPLES]]
        atomic_write_json(row_path, {
            "row_id": row.row_id, "task": slug, "model": row.model, "state": row.state, "method": row.method,
            "mode": row.mode, "kind": row.kind, "order": row.order,
            "run": run_path(row.run_dir),
            "run_fingerprint": source, "records_fingerprint": fingerprint, "examples": len(records),
            "test_size": len(test), "labels": labels, "device": device, **result, "samples": samples,
        })
        m = result["metrics"]
        print(f"  [ ok ] {row.label} ({row.mode}): accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
              f"invalid {m['invalid_rate']:.1%}, {result['examples_per_s']:.1f} ex/s", flush=True)
        done += 1
    return done


def plan_domain_rows(slug: str, configs: list[TrainConfig], args) -> list[Row]:
    """Per causal model: the base model, then each finished run; the API model last, if one is given."""
    rows: list[Row] = []
    for config in configs:
        name = model_slug(config.model)
        if not any(r.model == name and r.state == "base" for r in rows):
            rows.append(Row(f"{name}.base.lm", slug, name, "base", "", "lm", "causal", len(rows)))
        run_dir = config.run_dir(results_dir())
        state = runs.state(run_dir, to_yaml(config))
        if state != "finished":
            print(f"  {slug}: {run_dir.name} is {state}, not benchmarked (run `make train-all` first)")
            continue
        rows.append(Row(f"{name}-{config.method}.lm", slug, name, "fine-tuned", config.method, "lm", "causal",
                        len(rows), run_dir))
    if args.api_base:
        rows.append(Row(f"api.{model_slug(args.api_model)}", slug, f"api:{args.api_model}", "api", "", "continuation",
                        "api", len(rows)))
    return rows


def bench_domain_row(row: Row, test_blocks, prompts, device, args, cache) -> dict:
    """Perplexity on the test blocks (not for an API model) and BLEU/chrF of greedy continuations."""
    from bench.api_client import complete
    from bench.domain import CONTINUATION_TOKENS, block_nll, generate_continuations, perplexity_metrics, text_scores

    metrics, seconds = {"perplexity": None, "nll_per_token": None, "tokens": 0}, 0.0
    with PeakMemory(device) as memory:
        if row.kind == "api":
            continuations = [complete(args.api_base, args.api_model, p["prompt"], CONTINUATION_TOKENS)
                             for p in prompts]
        else:
            model, tokenizer = load_causal(row, device, cache)
            started = time.perf_counter()
            metrics = perplexity_metrics(*block_nll(model, test_blocks, batch_size=max(1, args.batch_size // 4)))
            seconds = time.perf_counter() - started
            continuations = generate_continuations(model, tokenizer, prompts, batch_size=args.batch_size)
    metrics.update(text_scores(continuations, [p["reference"] for p in prompts]))
    predictions = [{"id": p["id"], "prompt": p["prompt"], "reference": p["reference"], "continuation": c}
                   for p, c in zip(prompts, continuations)]
    return {"metrics": metrics, "seconds": round(seconds, 2),
            "tokens_per_s": round(metrics["tokens"] / seconds, 1) if seconds else None,
            "peak_memory_mb": round(memory.peak_mb), "predictions": predictions}


def bench_domain_task(slug: str, configs: list[TrainConfig], args, device: str) -> int:
    """A domain corpus: the same test blocks and prompts for the base and fine-tuned rows of each model."""
    from bench.domain import continuation_prompts
    from prompts.domain import blocks
    from sft.models import load_tokenizer, resolve_model

    texts = [r["text"] for r in load_split(slug, "test")]
    rows = plan_domain_rows(slug, configs, args)
    out, done, cache, inputs = results_dir() / slug, 0, {}, {}
    print(f"{slug}: {len(rows)} row(s) on the test documents ({len(texts)})")
    for row in rows:
        key = row.model if row.kind != "api" else next((r.model for r in rows if r.kind == "causal"), None)
        if key not in inputs:  # blocks and prompts in the tokenizer of the row's model (an API row: the first model's)
            config = next(c for c in configs if model_slug(c.model) == key) if key else configs[0]
            tokenizer = load_tokenizer(resolve_model(config.model))
            all_blocks = blocks(texts, tokenizer, config.max_length)
            inputs[key] = (all_blocks[:args.limit] if args.limit else all_blocks, len(all_blocks),
                           continuation_prompts(texts, tokenizer, args.prompts))
        test_blocks, total_blocks, prompts = inputs[key]
        fingerprint = hashlib.sha256(json.dumps([test_blocks, [p["prompt_ids"] for p in prompts]]).encode()).hexdigest()[:16]
        source = run_fingerprint(row.run_dir) if row.kind != "api" else f"{args.api_base}|{args.api_model}"
        row_path = out / "rows" / f"{row.row_id}.json"
        if already_done(row_path, fingerprint, source, args.force):
            print(f"  [done] {row.label}")
            continue
        print(f"  [....] {row.label}", flush=True)
        result = bench_domain_row(row, test_blocks, prompts, device, args, cache)
        predictions = result.pop("predictions")
        atomic_write_jsonl(out / "predictions" / f"{row.row_id}.jsonl", predictions)
        samples = predictions[:SAMPLES]
        atomic_write_json(row_path, {
            "row_id": row.row_id, "task": slug, "task_kind": "domain", "model": row.model, "state": row.state,
            "method": row.method, "mode": row.mode, "kind": row.kind, "order": row.order, "run": run_path(row.run_dir),
            "run_fingerprint": source, "records_fingerprint": fingerprint, "examples": len(test_blocks),
            "test_size": total_blocks, "block_size": len(test_blocks[0]) if test_blocks else 0,
            "prompts": len(prompts), "device": device, **result, "samples": samples})
        m = result["metrics"]
        ppl = f"perplexity {m['perplexity']:.2f} over {m['tokens']} tokens, " if m["perplexity"] is not None else ""
        print(f"  [ ok ] {row.label}: {ppl}BLEU {m['bleu']:.1f}, chrF {m['chrf']:.1f}", flush=True)
        done += 1
    return done


def main(argv=None) -> int:
    from bench.report import build_report
    from sft.experiment import load_experiment
    from sft.hardware import device_name

    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="default", help="name under configs/experiments/ or a YAML path")
    parser.add_argument("--only", help="benchmark only these tasks (comma-separated)")
    parser.add_argument("--modes", default=",".join(MODES), help="generative modes: score,generate (default both)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N test records (default: the experiment's bench_limit; 0 = all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    parser.add_argument("--force", action="store_true", help="recompute rows that are already there")
    domain = parser.add_argument_group("domain-text tasks (perplexity, BLEU/chrF of continuations)")
    domain.add_argument("--prompts", type=int, default=32, help="held-out prompts to continue (default 32)")
    domain.add_argument("--api-base", help="also score an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    domain.add_argument("--api-model", default="default", help="model name sent to --api-base")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in args.modes:
        if mode not in MODES:
            from sft.errors import UserError

            raise UserError(f"--modes: unknown mode '{mode}'; choose from {', '.join(MODES)}")
    experiment = load_experiment(args.experiment)
    if args.limit is None:
        args.limit = experiment.bench_limit
    device = device_name(args.device)
    wanted = {t.strip() for t in args.only.split(",")} if args.only else None
    started, computed = time.time(), 0
    for task, options in experiment.tasks:
        slug = task_slug(task, options)
        if wanted and slug not in wanted:
            continue
        configs = [c for c in experiment.configs if task_slug(c.task, c.task_options) == slug]
        computed += bench_task(slug, options, configs, args, device)
    report = build_report()
    print(f"bench '{experiment.name}': {computed} row(s) computed in {time.time() - started:.0f} s; "
          f"report: {report}")
    return 0


if __name__ == "__main__":
    run_cli(main)
