"""Domain-text benchmark: perplexity on held-out blocks, and greedy continuations scored with BLEU / chrF.

Perplexity is token-weighted: exp(total negative log-likelihood / total predicted tokens) over the same
test blocks for every model (the blocks come from the base tokenizer, which a LoRA run shares; the first
token of each block has no context and is not predicted). Continuations: a prompt of `PROMPT_TOKENS`
tokens from a test document, `CONTINUATION_TOKENS` tokens generated greedily, compared with the real next
tokens of the document (sacrebleu, offline). An OpenAI-compatible endpoint (bench/api_client.py) answers
the same prompts as one more row; it has no perplexity.

torch loads inside the functions that run a model (2 s to import; --help must answer at once).
"""

from __future__ import annotations

import math

import sacrebleu
from tqdm.auto import tqdm

from prompts.domain import blocks

PROMPT_TOKENS = 64
CONTINUATION_TOKENS = 32


def block_nll(model, block_ids: list[list[int]], batch_size: int = 4, progress: bool = True) -> list[float]:
    """Each block's summed negative log-likelihood in nats (its first token, with no context, not predicted)."""
    import torch

    device = next(model.parameters()).device
    per_block = []
    with torch.inference_mode():
        for start in tqdm(
            range(0, len(block_ids), batch_size),
            desc="perplexity",
            unit="batch",
            disable=None if progress else True,
            leave=False,
        ):
            input_ids = torch.tensor(block_ids[start : start + batch_size], device=device)
            logits = model(input_ids=input_ids).logits[:, :-1].float()
            targets = input_ids[:, 1:]
            # Flattened (tokens, vocab): the (batch, vocab, tokens) layout was 3e-3 nats a block off float64 here.
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
            )
            per_block += nll.view(len(input_ids), -1).double().sum(-1).tolist()
    return per_block


def continuation_prompts(texts: list[str], tokenizer, count: int) -> list[dict]:
    """`count` prompt/reference pairs spread evenly over the test documents' token stream."""
    windows = blocks(texts, tokenizer, PROMPT_TOKENS + CONTINUATION_TOKENS)
    step = max(1, len(windows) // max(count, 1))
    chosen = windows[::step][:count]
    return [
        {
            "id": f"window-{index * step:05d}",
            "prompt_ids": ids[:PROMPT_TOKENS],
            "prompt": tokenizer.decode(ids[:PROMPT_TOKENS]),
            "reference": tokenizer.decode(ids[PROMPT_TOKENS:]),
        }
        for index, ids in enumerate(chosen)
    ]


def generate_continuations(model, tokenizer, prompts: list[dict], batch_size: int = 8) -> list[str]:
    """Greedy continuations; every prompt is exactly PROMPT_TOKENS long, so batches need no padding."""
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            input_ids = torch.tensor([p["prompt_ids"] for p in prompts[start : start + batch_size]], device=device)
            generated = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=CONTINUATION_TOKENS,
                do_sample=False,
                pad_token_id=pad_id,
            )
            for row in generated[:, input_ids.size(1) :].tolist():
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id)]
                out.append(tokenizer.decode(row))
    return out


def text_scores(continuations: list[str], references: list[str]) -> dict:
    return {
        "bleu": round(sacrebleu.corpus_bleu(continuations, [references]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(continuations, [references]).score, 2),
    }


def perplexity_metrics(per_block_nll: list[float], block_size: int) -> dict:
    """Token-weighted perplexity over the blocks (each predicts block_size - 1 tokens)."""
    total_nll, tokens = sum(per_block_nll), len(per_block_nll) * (block_size - 1)
    return {"perplexity": math.exp(total_nll / tokens), "nll_per_token": total_nll / tokens, "tokens": tokens}
