"""Domain-text rows: perplexity on held-out blocks and BLEU/chrF of greedy continuations (bench/domain.py).

Per causal model: the base model, then each finished run of it; an OpenAI-compatible API model last, if
one is given (continuations only: an API returns no log-likelihoods). Blocks and prompts are cut with the
tokenizer of the row's model (an API row uses the first model's), the same for its base and fine-tuned rows.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.api_client import complete
from bench.domain import (
    CONTINUATION_TOKENS,
    block_nll,
    continuation_prompts,
    generate_continuations,
    perplexity_metrics,
    text_scores,
)
from bench.generative import ModelCache
from bench.measure import PeakMemory
from bench.rows import Row, trained_runs
from bench.statistics import perplexity_interval
from prompts.domain import blocks
from sft import run_folders
from sft.config import TrainConfig
from sft.models import load_tokenizer, model_slug, resolve_model
from sftbench_common.fileio import content_hash
from sftbench_common.hardware import pick_precision

SAMPLES = 3


def plan_domain_rows(
    slug: str, configs: list[TrainConfig], split_hash: str, api_base: str | None, api_model: str, root: Path
) -> list[Row]:
    rows: list[Row] = []
    for config, run_dir, overrides in trained_runs(slug, configs, split_hash, root):
        name = model_slug(config.model)
        if not any(r.model == name and r.state == "base" for r in rows):
            rows.append(Row(f"{name}.base.lm", slug, name, "base", "", "lm", "causal", len(rows)))
        if run_dir is not None:
            rows.append(
                Row(
                    f"{name}-{config.method}.lm",
                    slug,
                    name,
                    "fine-tuned",
                    config.method,
                    "lm",
                    "causal",
                    len(rows),
                    run_dir,
                    run_folders.fingerprint(run_dir),
                    overrides,
                )
            )
    if api_base:
        rows.append(
            Row(
                f"api.{model_slug(api_model)}",
                slug,
                f"api:{api_model}",
                "api",
                "",
                "continuation",
                "api",
                len(rows),
                source=f"{api_base}|{api_model}",
            )
        )
    return rows


class DomainJob:
    """The same test blocks and continuation prompts for the base and fine-tuned rows of each model."""

    task_kind = "domain"

    def __init__(
        self,
        texts: list[str],
        configs: list[TrainConfig],
        limit: int | None,
        prompt_count: int,
        device: str,
        batch_size: int,
        api_base: str | None = None,
        api_model: str = "default",
    ):
        self.texts, self.configs, self.limit, self.prompt_count = texts, configs, limit, prompt_count
        self.device, self.batch_size, self.api_base, self.api_model = device, batch_size, api_base, api_model
        self.models = ModelCache(device)
        self._inputs: dict[str, tuple] = {}

    def inputs(self, row: Row) -> tuple[list[list[int]], int, list[dict]]:
        """(test blocks, blocks in the whole test split, continuation prompts) in the row's tokenizer."""
        config = next((c for c in self.configs if model_slug(c.model) == row.model), self.configs[0])
        key = model_slug(config.model)
        if key not in self._inputs:
            tokenizer = load_tokenizer(resolve_model(config.model))
            all_blocks = blocks(self.texts, tokenizer, config.max_length)
            self._inputs[key] = (
                all_blocks[: self.limit] if self.limit else all_blocks,
                len(all_blocks),
                continuation_prompts(self.texts, tokenizer, self.prompt_count),
            )
        return self._inputs[key]

    def inputs_fingerprint(self, row: Row) -> str:
        test_blocks, _, prompts = self.inputs(row)
        return content_hash([test_blocks, [p["prompt_ids"] for p in prompts]])

    def context(self, row: Row) -> dict:
        test_blocks, total_blocks, prompts = self.inputs(row)
        return {
            "examples": len(test_blocks),
            "test_size": total_blocks,
            "block_size": len(test_blocks[0]) if test_blocks else 0,
            "prompts": len(prompts),
            "device": self.device,
            "precision": None if row.kind == "api" else pick_precision(device=self.device),
        }

    def compute(self, row: Row) -> dict:
        """Perplexity on the test blocks (not for an API model) and BLEU/chrF of greedy continuations."""
        test_blocks, _, prompts = self.inputs(row)
        metrics, seconds, intervals = {"perplexity": None, "nll_per_token": None, "tokens": 0}, 0.0, {}
        with PeakMemory(self.device) as memory:
            if row.kind == "api":
                continuations = [
                    complete(self.api_base, self.api_model, p["prompt"], CONTINUATION_TOKENS) for p in prompts
                ]
            else:
                model, tokenizer = self.models.get(row.model, row.run_dir)
                started = time.perf_counter()
                per_block = block_nll(model, test_blocks, batch_size=max(1, self.batch_size // 4))
                seconds = time.perf_counter() - started
                block_size = len(test_blocks[0])
                metrics = perplexity_metrics(per_block, block_size)
                intervals = {"perplexity": perplexity_interval(per_block, [block_size - 1] * len(per_block))}
                continuations = generate_continuations(model, tokenizer, prompts, batch_size=self.batch_size)
        metrics.update(text_scores(continuations, [p["reference"] for p in prompts]))
        predictions = [
            {"id": p["id"], "prompt": p["prompt"], "reference": p["reference"], "continuation": c}
            for p, c in zip(prompts, continuations)
        ]
        return {
            "metrics": metrics,
            "intervals": intervals,
            "seconds": round(seconds, 2),
            "tokens_per_s": round(metrics["tokens"] / seconds, 1) if seconds else None,
            "peak_memory_mb": round(memory.peak_mb),
            "predictions": predictions,
            "samples": predictions[:SAMPLES],
        }

    def describe(self, result: dict) -> str:
        m = result["metrics"]
        ppl = f"perplexity {m['perplexity']:.2f} over {m['tokens']} tokens, " if m["perplexity"] is not None else ""
        return f"{ppl}BLEU {m['bleu']:.1f}, chrF {m['chrf']:.1f}"
