"""A batch of prompts run as one prefix tree: where prompts share their opening tokens beyond the text every
prompt shares (mushroom descriptions list the same features in the same order, so prompts next to each other in
sorted order share half their tokens), each shared run of tokens is computed once.

The batch's distinct tokens go through the model as one sequence, each attending to the prompt text all share
(the KV cache) and to its own ancestors in the tree (a 4-D attention mask, as tree attention in speculative
decoding has it), at the position it has in its own prompt. The KV cache that pass leaves is then laid out per
prompt, left-padded, exactly as a batch of the prompts run side by side would leave it, so everything after the
prompt pass (label continuations, decoding) runs as before. The attention over a row's real tokens is the same
set of keys at the same positions: the numbers equal the side-by-side pass's up to rounding.

torch loads inside the functions (seconds to import; --help answers at once).
"""

from __future__ import annotations

from types import SimpleNamespace

PACK_AT_MOST = 0.8  # pack a prompt set whose trees hold at most this share of its tokens (else little is saved)
TREE_ROWS = 8  # prompts to a tree: its attention grows with its square, its savings slowly (docs/benchmark.md)
PACKING_ATTENTION = ("sdpa", "eager")  # take an arbitrary 4-D mask (flash attention kernels do not)


def matching_length(first: list[int], second: list[int]) -> int:
    length, shortest = 0, min(len(first), len(second))
    while length < shortest and first[length] == second[length]:
        length += 1
    return length


def prefix_tree(rows: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """(the tree's tokens, each parent before its children; each row's path: the indices of its tokens among
    them). Rows taken in sorted order share with the previous one all that any earlier row shares with them."""
    tokens: list[int] = []
    paths: list[list[int]] = [[] for _ in rows]
    previous = None
    for row in sorted(range(len(rows)), key=lambda r: rows[r]):
        ids = rows[row]
        shared = 0 if previous is None else matching_length(rows[previous], ids)
        kept = paths[previous][:shared] if previous is not None else []
        paths[row] = kept + list(range(len(tokens), len(tokens) + len(ids) - shared))
        tokens.extend(ids[shared:])
        previous = row
    return tokens, paths


def tree_plan(rows: list[list[int]]) -> tuple[list[int], float]:
    """(the rows' indices in trees of TREE_ROWS rows, in sorted order, the trees by their size; the share of the
    rows' tokens those trees hold). Batches of whole trees then hold trees of like size, which pad little as one
    batch of the model. A last tree of fewer rows stays last, so every batch of a multiple of TREE_ROWS rows
    starts at a tree."""
    ordered = sorted(range(len(rows)), key=lambda r: rows[r])
    trees = [ordered[start : start + TREE_ROWS] for start in range(0, len(ordered), TREE_ROWS)]
    sizes = [len(prefix_tree([rows[r] for r in tree])[0]) for tree in trees]
    whole = sorted(((size, tree) for tree, size in zip(trees, sizes) if len(tree) == TREE_ROWS), key=lambda t: t[0])
    short = [tree for tree in trees if len(tree) < TREE_ROWS]
    order = [row for tree in [tree for _, tree in whole] + short for row in tree]
    return order, sum(sizes) / max(1, sum(map(len, rows)))


def can_pack(model) -> bool:
    """Whether the model's attention takes a tree's mask and its KV cache is plain layers (a sliding window's
    cache, e.g. Gemma-3's, drops keys a tree's later tokens still need)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    config = getattr(model, "whole_model", model).config
    if getattr(config, "_attn_implementation", None) not in PACKING_ATTENTION:
        return False
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)


def tree_mask(trees: list[tuple[list[int], list[list[int]]]], width: int, prefix_length: int, additive_dtype, device):
    """(trees, 1, width, prefix_length + width): each tree's token sees the shared prefix, its ancestors and itself
    (a padding position only itself); True where it attends, or for eager attention (`additive_dtype` given) 0
    there and the dtype's minimum elsewhere."""
    import torch

    sees = torch.zeros((len(trees), width, prefix_length + width), dtype=torch.bool)
    sees[:, :, :prefix_length] = True
    sees[:, :, prefix_length:] = torch.eye(width, dtype=torch.bool)
    for tree, (_, paths) in enumerate(trees):
        for path in paths:
            nodes = torch.tensor(path)
            below = torch.ones((len(path), len(path)), dtype=torch.bool).tril()
            sees[tree, nodes[:, None], prefix_length + nodes[None, :]] |= below
    sees = sees.to(device)[:, None]
    if additive_dtype is None:
        return sees
    return torch.zeros(sees.shape, dtype=additive_dtype, device=device).masked_fill(
        ~sees, torch.finfo(additive_dtype).min
    )


def packed_pass(model, input_ids, attention, prefix_length: int, cache):
    """The prompt pass of a batch (left-padded own tokens `input_ids` in sorted order, `attention` over the prefix
    and them, the prefix's KV cache for one row or None) as prefix trees of TREE_ROWS rows each, one tree a row of
    the model's batch: an output with `logits` (B, 1, vocabulary) at each row's last token and `past_key_values`
    laid out per row as model(input_ids, attention, ...) leaves it."""
    import torch

    rows, width = len(input_ids), input_ids.shape[1]
    own = attention[:, -width:].bool()
    prompts = [input_ids[row][own[row]].tolist() for row in range(rows)]
    trees = [prefix_tree(prompts[start : start + TREE_ROWS]) for start in range(0, rows, TREE_ROWS)]
    tree_width = max(len(tokens) for tokens, _ in trees)
    tokens = torch.zeros((len(trees), tree_width), dtype=torch.long)
    positions = torch.zeros((len(trees), tree_width), dtype=torch.long)
    where = []  # each row's (tree, path)
    for tree, (tree_tokens, paths) in enumerate(trees):
        tokens[tree, : len(tree_tokens)] = torch.tensor(tree_tokens)
        for path in paths:
            positions[tree, torch.tensor(path)] = torch.arange(len(path))
            where.append((tree, path))
    whole = getattr(model, "whole_model", model)
    eager = whole.config._attn_implementation == "eager"
    dtype = whole.get_input_embeddings().weight.dtype if eager else None
    if cache is not None:
        cache.batch_repeat_interleave(len(trees))
    device = input_ids.device
    out = model(
        input_ids=tokens.to(device),
        attention_mask=tree_mask(trees, tree_width, prefix_length, dtype, device),
        position_ids=(positions + prefix_length).to(device),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=torch.tensor([path[-1] for _, path in where], device=device),
    )
    # Each row's cache: the prefix, left padding (any key: the mask hides it), then its path's tokens.
    in_tree = torch.tensor([tree for tree, _ in where], device=device)
    index = torch.zeros((rows, prefix_length + width), dtype=torch.long)
    index[:, :prefix_length] = torch.arange(prefix_length)
    for row, (_, path) in enumerate(where):
        index[row, prefix_length + width - len(path) :] = prefix_length + torch.tensor(path)
    index = index.to(device)
    for layer in out.past_key_values.layers:
        for name in ("keys", "values"):
            packed = getattr(layer, name)  # (trees, heads, prefix + tree width, head size)
            setattr(layer, name, packed[in_tree[:, None], :, index].transpose(1, 2).contiguous())
    logits = out.logits[in_tree, torch.arange(rows, device=device)]  # row r's tree at row r's last token
    return SimpleNamespace(logits=logits[:, None], past_key_values=out.past_key_values)
