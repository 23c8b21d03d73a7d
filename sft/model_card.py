"""The model card of a fine-tuned run: README.md beside its weights (adapter/, model/, merged/), in the Hub's
model-card format (YAML metadata + Markdown): huggingface_hub's ModelCardData for the metadata, the layout a Jinja
template, sft/templates/model_card.md, rendered by ModelCard.from_template; this module decides what goes in it.

Training writes it (base model, task, labels, prompt format, settings, the label accuracy seen at the last
evaluation); the benchmark records the run's test metrics in the run folder (test_results.json) and writes
it again with them, intervals included, as the model-index the Hub shows. Everything on it is read from the
run folder and the task's meta.json, so it can be rebuilt at any time.

transformers loads inside `_prompt_example` (seconds to import; the CLIs that import this must start fast).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from prompts.build import build_task
from prompts.format import prompt_text
from prompts.tasks import get_task, task_kind, task_slug
from sft import run_folders
from sft.config import shareable_config, shown_model
from sft.models import ResolvedModel, base_model_id, uses_classifier_head
from sftbench_common.fileio import atomic_write_json, atomic_write_text, read_jsonl

CARD = "README.md"
TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"  # the card's layout (Jinja)
TEST_RESULTS = "test_results.json"
WEIGHT_FOLDERS = ("adapter", "model", "merged")
HUB_DATASET_PREFIX = "Hugging Face dataset "


def _fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _prompt_example(weights_dir: Path, meta: dict, example_input: str) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights_dir)
    record = {"instruction": meta["instruction"], "input": example_input, "output": meta["labels"][0]}
    return prompt_text(record, tokenizer)


def _label_eval(run_dir: Path, best_step: int | None) -> dict | None:
    """The evaluation whose weights the run kept: the best checkpoint's where one was chosen, else the last."""
    log = run_dir / "train_log.jsonl"
    evals = [r for r in read_jsonl(log, tolerant=True) if "eval_label_accuracy" in r] if log.is_file() else []
    chosen = [r for r in evals if r["step"] == best_step]
    return (chosen or evals or [None])[-1]


def _evaluation_lines(results: list[dict]) -> list[dict]:
    """The evaluation table's cells, one entry per mode and metric (the template lays them out), with the seeds'
    mean and spread where the run is one of several seeds."""
    lines = []
    for r in results:
        low, high = r["interval"] or (None, None)
        p = r.get("p_vs_base")
        seeds = r.get("seeds")
        lines.append(
            {
                "mode": r["mode"],
                "n": r["n"],
                "metric": r["metric"],
                "measured": _fmt(r["value"]) + (f" [{_fmt(low)}, {_fmt(high)}]" if low is not None else ""),
                "base": "-" if r.get("base_value") is None else _fmt(r["base_value"]),
                "p": "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}"),
                "seeds": seeds
                and {
                    "seed": seeds["seed"],
                    "count": seeds["count"],
                    **{key: _fmt(seeds[key]) for key in ("mean", "sd", "min", "max")},
                },
            }
        )
    return lines


def _eval_results(results: list[dict], task: str, meta: dict) -> list[EvalResult]:
    dataset = meta["source"].removeprefix(HUB_DATASET_PREFIX) if meta["source"].startswith(HUB_DATASET_PREFIX) else task
    task_type = "text-generation" if meta["kind"] == "domain" else "text-classification"
    found = []
    for r in results:
        low, high = r["interval"] or (None, None)
        interval = f", 95% CI {_fmt(low)}-{_fmt(high)}" if low is not None else ""
        found.append(
            EvalResult(
                task_type=task_type,
                dataset_type=dataset,
                dataset_name=task,
                dataset_split="test",
                metric_type=r["metric"],
                metric_value=round(r["value"], 4),
                metric_name=f"{r['metric']} ({r['mode']}, n={r['n']}{interval})",
            )
        )
    return found


def record_test_results(run_dir: Path, results: list[dict]) -> None:
    """The benchmark's test metrics of this run (each {mode, metric, value, interval, n, p_vs_base}), kept in
    the run folder for its card; tied to the trained weights by the run's fingerprint."""
    atomic_write_json(run_dir / TEST_RESULTS, {"run_fingerprint": run_folders.fingerprint(run_dir), "results": results})


def test_results(run_dir: Path) -> list[dict] | None:
    """The recorded test metrics, if they were measured on the weights the run has now."""
    path = run_dir / TEST_RESULTS
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved["results"] if saved.get("run_fingerprint") == run_folders.fingerprint(run_dir) else None


def build_model_card(run_dir: Path, weights_dir: Path, model: ResolvedModel, repo_id: str | None = None) -> ModelCard:
    """The card of `run_dir`'s weights in `weights_dir`, from the run folder's files alone."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    run = run_folders.read_run(run_dir)
    results = test_results(run_dir)
    task = task_slug(config["task"], config.get("task_options") or {})
    meta = build_task(get_task(config["task"], **(config.get("task_options") or {})))  # built if needed
    domain = task_kind(config["task"]) == "domain"
    base = base_model_id(model)
    adapter = (weights_dir / "adapter_config.json").is_file()
    method = config["method"]
    head = uses_classifier_head(model.kind, method)
    merged = weights_dir.name == "merged"
    name = repo_id.split("/")[-1] if repo_id else f"{run_dir.name}-{task}"
    hub_dataset = meta["source"].startswith(HUB_DATASET_PREFIX)
    datasets = [meta["source"].removeprefix(HUB_DATASET_PREFIX)] if hub_dataset else None
    data = ModelCardData(
        model_name=name,
        base_model=base,
        library_name="peft" if adapter else "transformers",
        pipeline_tag="text-classification" if head else "text-generation",
        tags=[
            "sftbench",
            *(["text-classification"] if head else ["trl", "sft"]),
            method,
            *(["merged"] if merged else []),
            task,
        ],
        datasets=datasets,
        eval_results=_eval_results(results, task, meta) if results else None,
    )
    base_text = (
        f"[{base}](https://huggingface.co/{base})" if base else f"a local model (`{shown_model(config['model'])}`)"
    )
    what = "a LoRA adapter" if adapter else "a merged model (base + LoRA)" if merged else "a model"
    auto = "AutoModelForSequenceClassification" if head else "AutoModelForCausalLM"
    label_eval = _label_eval(run_dir, run.get("best_step"))
    hardware = run.get("hardware") or {}
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        name=name,
        what=what[0].upper() + what[1:],
        base_text=base_text,
        trainer="a classification head, transformers `Trainer`" if head else "TRL `SFTTrainer`",
        method=method,
        task=task,
        source=meta["source"],
        domain=domain,
        labels=", ".join(f"`{label}`" for label in meta.get("labels", [])),
        split_origin=meta.get("split_origin"),
        train_examples=run.get("train_examples", config.get("train_limit")),
        head=head,
        causal_head=model.kind == "causal",
        max_length=config["max_length"],
        prompt_example=None if domain or head else _prompt_example(weights_dir, meta, "<the record's text>"),
        results=_evaluation_lines(results or []),
        label_eval=label_eval
        and {
            "which": "the best evaluation, whose weights these are" if run.get("best_step") else "the last evaluation",
            "step": label_eval["step"],
            "accuracy": f"{label_eval['eval_label_accuracy']:.3f}",
            "macro_f1": f"{label_eval['eval_macro_f1']:.3f}",
        },
        training={
            "steps": run.get("global_step", "?"),
            "seconds": f"{run.get('train_runtime_s') or 0:.0f}",
            "device": hardware.get("gpu") or f"CPU ({hardware.get('torch_threads', '?')} threads)",
            "precision": run.get("precision", "?"),
            "loss": f"{run.get('train_loss', float('nan')):.4f}",
            "commit": run.get("git_commit"),
        },
        config_yaml=yaml.safe_dump(shareable_config(config), sort_keys=False).strip(),
        adapter=adapter,
        model_class=f"AutoPeft{auto.removeprefix('Auto')}" if adapter else auto,
        where=repo_id or ("path/to/adapter" if adapter else "path/to/model"),
    )


def write_model_card(run_dir: Path, model: ResolvedModel, repo_id: str | None = None) -> list[Path]:
    """(Re)write README.md in each weights folder of the run; returns the cards written."""
    written = []
    for folder in WEIGHT_FOLDERS:
        weights_dir = run_dir / folder
        if weights_dir.is_dir():
            card = build_model_card(run_dir, weights_dir, model, repo_id)
            atomic_write_text(weights_dir / CARD, str(card))
            written.append(weights_dir / CARD)
    return written
