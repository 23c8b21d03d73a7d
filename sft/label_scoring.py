"""Scoring a classification task's labels with a causal LM: the benchmark's `score` mode, and the label
accuracy a fine-tuning run logs at each evaluation (the same function, so the two numbers agree).

Every label is ranked by the model's log-likelihood of its completion (the label and the end-of-turn token,
exactly as trained) after the exact training prompt (prompts/format.py). The text all prompts share runs
once, each prompt's own text once; that KV cache is then shared by all the candidate labels, and logits are
computed only where a label token is scored. Every answer is a valid label by construction.

torch and scikit-learn load inside the functions: seconds to import, and --help must answer at once.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, NamedTuple

from tqdm.auto import tqdm

from prompts.fewshot import MAX_INPUT_TOKENS
from prompts.format import has_chat_template, prompt_completion, prompt_text, shorten_input
from sft.prompt_tree import PACK_AT_MOST, can_pack, packed_pass, tree_plan
from sftbench_common import processes

if TYPE_CHECKING:  # torch and transformers load inside the functions
    import torch
    from transformers import DynamicCache


def completion_texts(tokenizer, labels: list[str]) -> dict[str, str]:
    """The text that follows the prompt for each label, exactly as the training sequence renders it."""
    texts = {}
    for label in labels:
        record = {"instruction": "x", "input": "y", "output": label}
        if has_chat_template(tokenizer):
            pair = prompt_completion(record, tokenizer)
            full = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)
            texts[label] = full[len(prompt_text(record, tokenizer)) :]
        else:
            texts[label] = label + tokenizer.eos_token
    return texts


def prompt_ids(tokenizer, records: list[dict], demonstrations: list[dict] = ()) -> list[list[int]]:
    """Each record's prompt as token ids, after the in-context `demonstrations` (shortened as training
    shortens long inputs)."""
    # Chat-templated prompts carry their own special tokens; plain ones get BOS as in training.
    add_special = not has_chat_template(tokenizer)
    shown = [shorten_input(d, tokenizer, MAX_INPUT_TOKENS) for d in demonstrations]
    return [tokenizer(prompt_text(r, tokenizer, shown), add_special_tokens=add_special)["input_ids"] for r in records]


def left_pad(sequences: list[list[int]], pad_id: int):
    """(input_ids, attention_mask, position_ids) with padding on the left, positions counting real tokens."""
    import torch

    width = max(map(len, sequences))
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention[row, width - len(ids) :] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, positions


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Leading tokens every sequence has in common, leaving each at least its last token to run."""
    first, shortest = sequences[0], min(map(len, sequences))
    length = 0
    while length < shortest - 1 and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def prompt_batches(
    model,
    tokenizer,
    records: list[dict],
    batch_size: int,
    desc: str,
    progress: bool,
    demonstrations: list[dict] = (),
    spread: bool = False,
    group: int = 1,
    pack: bool = False,
):
    """The records' prompts in batches, the text they all share run through the model once (in-context
    `demonstrations` come first, so they are part of that shared text). With `spread`, the processes share the
    batches out in whole runs of `group` consecutive batches, so work that spans a group sees the same batches
    on one process as on several. With `pack`, where the prompts also share openings among themselves and the
    model can run a tree (sft/prompt_tree.py), batches are marked `packed`.

    Yields PromptBatch(records, input_ids, attention, positions, cache, prefix, packed): the batch's records
    (in order of prompt length, so that a batch holds little padding; packed: in sorted order, so that a batch's
    prompts share the most), their left-padded own tokens with position ids, a mask over the shared prefix and
    the tokens, a KV cache holding the shared prefix for every row (packed: for one row; None when the prompts
    share nothing) and the prefix's token ids. The padding sits between prefix and own tokens; the mask hides
    it.
    """
    import torch

    device = next(model.parameters()).device
    prompts = prompt_ids(tokenizer, records, demonstrations)
    shared = common_prefix_length(prompts) if prompts else 0
    prefix_cache = None
    if shared:
        with torch.inference_mode():
            prefix_cache = model(
                input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True, logits_to_keep=1
            ).past_key_values
    packed = False
    if pack and prompts and can_pack(model):
        order, share = tree_plan([p[shared:] for p in prompts])
        packed = share <= PACK_AT_MOST
    if not packed:
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    starts = list(range(0, len(order), batch_size))
    if spread:  # several processes (a launcher): this one's groups of batches, each whole
        groups = [starts[i : i + group] for i in range(0, len(starts), group)]
        starts = [start for own in processes.own_batches(groups) for start in own]
    for start in tqdm(starts, desc=desc, disable=None if progress else True, unit="batch", leave=False):
        batch = order[start : start + batch_size]
        input_ids, attention, positions = (
            t.to(device) for t in left_pad([prompts[i][shared:] for i in batch], tokenizer.pad_token_id)
        )
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            if not packed:
                cache.batch_repeat_interleave(len(batch))
            attention = torch.cat([attention.new_ones((len(batch), shared)), attention], dim=1)
        yield PromptBatch(batch, input_ids, attention, positions + shared, cache, prompts[0][:shared], packed)


class PromptBatch(NamedTuple):
    """One batch of prompt_batches (see there)."""

    records: list[int]
    input_ids: torch.Tensor
    attention: torch.Tensor
    positions: torch.Tensor
    cache: DynamicCache | None
    prefix: list[int]
    packed: bool


def prompt_pass(model, prompts: PromptBatch):
    """The model's pass over a batch's prompts (logits at each row's last token, the KV cache per row)."""
    if prompts.packed:
        return packed_pass(model, prompts.input_ids, prompts.attention, len(prompts.prefix), prompts.cache)
    return model(
        input_ids=prompts.input_ids,
        attention_mask=prompts.attention,
        position_ids=prompts.positions,
        past_key_values=prompts.cache,
        use_cache=True,
        logits_to_keep=1,
    )


def score_labels(
    model,
    tokenizer,
    records: list[dict],
    labels: list[str],
    batch_size: int = 16,
    progress: bool = True,
    demonstrations: list[dict] = (),
    spread: bool = False,
    pack: bool = True,
) -> list[dict[str, float]]:
    """Per record, the summed log-probability of each label's completion after the prompt (after the
    in-context `demonstrations`, if any); with `spread`, the batches shared out over the processes; with
    `pack`, prompts that share openings run as prefix trees where that pays.

    The prompt text all records share (chat template, system prompt, instruction: a third of a mushroom
    prompt) runs once for the set, each record's own text once (and openings some records share, once:
    sft/prompt_tree.py); every label's tokens then reuse that cache, with logits only where a label token is
    scored.
    """
    return score_and_answer(model, tokenizer, records, labels, batch_size, progress, demonstrations, 0, spread, pack)[0]


def score_and_answer(
    model,
    tokenizer,
    records: list[dict],
    labels: list[str],
    batch_size: int = 16,
    progress: bool = True,
    demonstrations: list[dict] = (),
    answer_tokens: int = 0,
    spread: bool = False,
    pack: bool = True,
) -> tuple[list[dict[str, float]], list[str] | None, float, int]:
    """score_labels' scores and, with `answer_tokens` > 0, each record's greedy answer of at most that many tokens
    (the benchmark's generate mode) from the same pass over the prompts. An answer that follows a label's tokens
    to the end-of-sequence token is read off the logits the scoring computed (answer_from_scores); any other is
    decoded, starting from the scoring pass's KV cache, so the prompts run once for both. Returns (scores,
    answers or None, seconds spent answering beyond the scoring, how many answers were read off the scores).
    With `spread`, under several processes each computes every N-th batch of the pass, whole (so every record's
    numbers are a single process's), and every process gets them all."""
    import torch

    completions = [
        tokenizer(text, add_special_tokens=False)["input_ids"] for text in completion_texts(tokenizer, labels).values()
    ]
    n_labels, width = len(labels), max(map(len, completions))
    label_ids = torch.full((n_labels, width), tokenizer.pad_token_id, dtype=torch.long)
    label_mask = torch.zeros((n_labels, width), dtype=torch.long)
    for row, ids in enumerate(completions):
        label_ids[row, : len(ids)] = torch.tensor(ids)
        label_mask[row, : len(ids)] = 1
    device = next(model.parameters()).device
    decoder = Decoder(model, tokenizer, answer_tokens)
    group = max(1, DECODE_ROWS // batch_size) if answer_tokens else 1  # batches whose answers decode together
    first_tokens = {ids[0] for ids in completions}
    results: dict[int, dict[str, float]] = {}
    read_off: set[int] = set()  # records whose answer came from the scores
    for number, prompts in enumerate(
        prompt_batches(model, tokenizer, records, batch_size, "score", progress, demonstrations, spread, group, pack)
    ):
        batch, input_ids, attention, positions, _, prefix, _ = prompts
        with torch.inference_mode():
            out = prompt_pass(model, prompts)
            first = out.logits[:, -1].float().log_softmax(-1)  # (B, vocab)
            off_label = []
            if answer_tokens:  # answers leaving the labels at the first token decode before the cache is reused
                first_choice = first.argmax(-1).tolist()
                off_label = [i for i, token in enumerate(first_choice) if token not in first_tokens]
                decoder.decode(batch, input_ids, attention, prefix, off_label, out.past_key_values)
            scores = first[:, label_ids[:, 0].to(device)]  # (B, labels)
            follow_choice = torch.empty((len(batch), n_labels, 0), dtype=torch.long)
            if width > 1:
                # The rest of each label's tokens, every label against the same cached prompt.
                cache = out.past_key_values
                cache.batch_repeat_interleave(n_labels)
                follow_ids = label_ids.repeat(len(batch), 1).to(device)
                follow_mask = torch.cat(
                    [attention.repeat_interleave(n_labels, 0), label_mask.repeat(len(batch), 1).to(device)], dim=1
                )
                follow_pos = positions[:, -1:].repeat_interleave(n_labels, 0) + 1 + torch.arange(width, device=device)
                logits = (
                    model(
                        input_ids=follow_ids,
                        attention_mask=follow_mask,
                        position_ids=follow_pos,
                        past_key_values=cache,
                        use_cache=False,
                    )
                    .logits[:, :-1]
                    .float()
                )
                if answer_tokens:
                    started = time.perf_counter()
                    follow_choice = logits.argmax(-1).view(len(batch), n_labels, width - 1).cpu()
                    decoder.seconds += time.perf_counter() - started
                token_lp = logits.log_softmax(-1).gather(-1, follow_ids[:, 1:, None])[..., 0]  # (rows, width-1)
                token_lp = token_lp * label_mask[:, 1:].repeat(len(batch), 1).to(device)
                scores = scores + token_lp.sum(-1).view(len(batch), n_labels)
            if answer_tokens:
                started = time.perf_counter()
                paths = {
                    i: answer_from_scores(
                        first_choice[i], follow_choice[i].tolist(), completions, decoder.eos_id, answer_tokens
                    )
                    for i in range(len(batch))
                    if i not in off_label
                }
                read_off.update(batch[i] for i, path in paths.items() if path)
                decoder.answered.update(
                    {batch[i]: tokenizer.decode(path, skip_special_tokens=True) for i, path in paths.items() if path}
                )
                decoder.seconds += time.perf_counter() - started
                left = [i for i, path in paths.items() if not path]  # a label's tokens followed, then left
                decoder.decode(batch, input_ids, attention, prefix, left)
        for index, row in zip(batch, scores.cpu()):
            results[index] = {label: float(s) for label, s in zip(labels, row)}
        if (number + 1) % group == 0:
            decoder.finish()
    answers = decoder.finish()
    if spread:
        cpu = device.type == "cpu"
        results, answers = processes.gather_by_index(results, cpu), processes.gather_by_index(answers, cpu)
        read_off = set(processes.gather_by_index(dict.fromkeys(read_off, True), cpu))
    scored = [results[i] for i in range(len(records))]
    answered = [answers[i] for i in range(len(records))] if answer_tokens else None
    return scored, answered, decoder.seconds, len(read_off)


def answer_from_scores(
    first_choice: int, follow_choice: list[list[int]], completions: list[list[int]], eos_id, max_tokens: int
) -> list[int] | None:
    """The tokens of the greedy answer where the score pass computed every step of it, else None. The pass has
    each label's completion after the prompt: `first_choice` is the argmax after the prompt, follow_choice[l][j]
    the argmax after label l's first j+1 tokens. The answer follows labels' tokens as long as its tokens so far
    are the start of some label's (whose next-step argmax is then known) and stops at the end-of-sequence token
    or after `max_tokens`, as generate() does; where it leaves every label's tokens first, it must be decoded."""
    path = [first_choice]
    while path[-1] != eos_id and len(path) < max_tokens:
        step = len(path)  # the argmax after these tokens sits at position step-1 of a label that starts with them
        known = [
            follow_choice[label][step - 1]
            for label, tokens in enumerate(completions)
            if tokens[:step] == path and step - 1 < min(len(tokens), len(follow_choice[label]))
        ]
        if not known:
            return None
        path.append(known[0])
    return path


DECODE_ROWS = 64  # records of the score batches whose answers decode together (Decoder)
DECODE_CACHE_BYTES = 384 * 1024**2  # prompt caches kept until then (a batch's rows whose cache is larger decode alone)


class Decoder:
    """Greedy decoding of the answers the score pass cannot give, with the model that generates: the scoring
    model itself, or the whole model behind a trunk tape (sft/trunk.py: a recording continues from the pass's
    cache; a replay's cache holds the upper layers alone, so it decodes from the prompt). Rows that continue
    from the pass's cache wait for the other rows of their group of score batches (DECODE_ROWS records, as
    many as DECODE_CACHE_BYTES of cache allows; the pass calls `finish` at each group's end) and decode
    together: a decoding step mostly reads the weights, so 64 rows cost little more than 16, while the score
    pass's own batches stay small. The groups are fixed by the batches alone, so several processes decode the
    same rows together as one process does. Keeps every answer by record (`answered`) and counts its
    seconds."""

    def __init__(self, model, tokenizer, answer_tokens: int):
        self.model = getattr(model, "whole_model", model)
        self.cache_is_whole = getattr(model, "continues_from_cache", True)
        self.tokenizer, self.answer_tokens, self.eos_id = tokenizer, answer_tokens, tokenizer.eos_token_id
        self.answered: dict[int, str] = {}  # record index (in the pass) -> answer
        self.waiting: list[tuple] = []  # (record indices, own tokens, mask, cache) of rows not yet decoded
        self.prefix: list[int] = []
        self.seconds = 0.0

    def decode(self, records, input_ids, attention, prefix: list[int], rows: list[int], cache=None) -> None:
        """Answer these rows of a batch (`records`: the batch's record indices): continuing from a copy of the
        prompt pass's `cache` (the scoring goes on with the original), less its last position, which generate()
        runs again before decoding; from the whole prompt where there is no cache or it lacks the trunk's
        layers."""
        if not rows:
            return
        started = time.perf_counter()
        indices = [records[i] for i in rows]
        if cache is not None and self.cache_is_whole:
            cache = own_copy(cache)
            if len(rows) < len(input_ids):
                cache.batch_select_indices(rows)
            cache.crop(-1)
            if mergeable(cache):
                waiting = (indices, input_ids[rows], attention[rows], cache)
                self.seconds += time.perf_counter() - started
                if self.waiting and waiting_bytes([*self.waiting, waiting]) > DECODE_CACHE_BYTES:
                    self.finish()  # those rows first: the caches kept stay within the bound
                self.prefix = prefix
                self.waiting.append(waiting)
                return
        else:
            cache = None
        texts = greedy_from_cache(
            self.model, self.tokenizer, input_ids[rows], attention[rows], cache, prefix, self.answer_tokens
        )
        self.answered.update(zip(indices, texts))
        self.seconds += time.perf_counter() - started

    def finish(self) -> dict[int, str]:
        """Decode the rows still waiting, as one batch; returns every answer so far, by record."""
        if self.waiting:
            started = time.perf_counter()
            indices = [index for w in self.waiting for index in w[0]]
            input_ids, attention, cache = merge_waiting(self.waiting, self.tokenizer.pad_token_id)
            texts = greedy_from_cache(
                self.model, self.tokenizer, input_ids, attention, cache, self.prefix, self.answer_tokens
            )
            self.answered.update(zip(indices, texts))
            self.waiting = []
            self.seconds += time.perf_counter() - started
        return self.answered


def own_copy(cache):
    """A copy of a KV cache that later updates of either leave alone. A plain layer never writes its tensors in
    place (it concatenates, slices and selects into new ones), so the copy shares them instead of copying a
    batch's whole prompt cache; any other kind of cache is copied whole."""
    if not mergeable(cache):
        return copy.deepcopy(cache)
    shared = copy.copy(cache)
    shared.layers = [copy.copy(layer) for layer in cache.layers]
    return shared


def mergeable(cache) -> bool:
    """Whether rows of this KV cache can join other batches' rows: plain layers that keep every position (a
    sliding-window layer keeps the last few, at an offset that differs between batches)."""
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))


def waiting_bytes(waiting: list[tuple]) -> int:
    return sum(
        t.numel() * t.element_size() for w in waiting for layer in w[3].layers for t in (layer.keys, layer.values)
    )


def merge_waiting(waiting: list[tuple], pad_id: int):
    """One batch from several batches' waiting rows: (own tokens, mask over prefix and own tokens, KV cache), each
    batch's rows left-padded to the widest. The mask hides the padding, and generate() counts positions over the
    mask, so the cached keys keep their positions."""
    import torch
    from torch.nn.functional import pad

    if len(waiting) == 1:
        return waiting[0][1:]
    width = max(w[1].size(1) for w in waiting)
    input_ids = torch.cat([pad(w[1], (width - w[1].size(1), 0), value=pad_id) for w in waiting])
    attention = torch.cat([pad(w[2], (width - w[1].size(1), 0)) for w in waiting])
    cache = waiting[0][3]
    for index, layer in enumerate(cache.layers):
        for name in ("keys", "values"):
            parts = [pad(getattr(w[3].layers[index], name), (0, 0, width - w[1].size(1), 0)) for w in waiting]
            setattr(layer, name, torch.cat(parts))
    return input_ids, attention, cache


def greedy_from_cache(model, tokenizer, input_ids, attention, cache, prefix: list[int], max_new_tokens: int):
    """The greedy continuation of each prompt of a batch whose first positions (the shared `prefix`, and more)
    `cache` holds (None: nothing, the whole prompt runs): generate() takes the whole prompt and runs only what the
    cache does not hold; it derives position ids from the mask, which counts only real tokens."""
    import torch

    prefix_ids = torch.tensor([prefix], dtype=input_ids.dtype, device=input_ids.device)
    whole = torch.cat([prefix_ids.expand(len(input_ids), -1), input_ids], dim=1)
    with torch.inference_mode():
        output = model.generate(
            input_ids=whole,
            attention_mask=attention,
            past_key_values=cache,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            top_p=None,
            top_k=None,
            temperature=None,
        )
    return tokenizer.batch_decode(output[:, whole.shape[1] :], skip_special_tokens=True)


def best_labels(scores: list[dict[str, float]]) -> list[str]:
    return [max(s, key=s.get) for s in scores]


def label_metrics(predicted: list[str], gold: list[str], labels: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the task's labels (scikit-learn, as the benchmark's metric module)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "label_accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
    }


class LabelScoringMixin:
    """Mixed into TRL's SFTTrainer (sft/train.py `sft_trainer_class`): every evaluation also scores
    `label_records` (the val split) in `score` mode and reports `eval_label_accuracy`, `eval_macro_f1` and the
    seconds it took (`eval_label_seconds`) beside eval_loss: token accuracy can read 99% where the answers are
    right 90% of the time. The metrics join eval_loss in one log line (trackers, train_log.jsonl) and can
    choose the best checkpoint (`trainer_args: {metric_for_best_model: label_accuracy,
    load_best_model_at_end: true}`)."""

    def __init__(self, *args, label_records: list[dict], labels: list[str], label_batch_size: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_records, self.labels, self.label_batch_size = label_records, labels, label_batch_size

    def evaluation_loop(self, *args, metric_key_prefix: str = "eval", **kwargs):
        output = super().evaluation_loop(*args, metric_key_prefix=metric_key_prefix, **kwargs)
        records, started = self.label_records, time.perf_counter()
        was_training = self.model.training
        head = self.model.get_output_embeddings().weight
        head_trains = head.requires_grad
        # A frozen LM head makes torch multiply a 3-D activation by it as a batched matmul: measured 1.8x
        # slower scoring here (bench/generative.py, load_for_inference, says the same). Scoring runs under
        # inference_mode, so the flag builds no graph; it is put back before training goes on.
        head.requires_grad_(True)
        self.model.eval()
        own = processes.shard(len(records))  # under several processes, each scores its share
        mine = [records[i] for i in own]
        trunk = getattr(self, "trunk", None)  # TrunkCacheMixin's, where the trunk is frozen (sft/trunk.py)
        try:
            with self.autocast_smart_context_manager():
                if trunk is None:
                    scores = score_labels(
                        self.model, self.processing_class, mine, self.labels, self.label_batch_size, False
                    )
                else:
                    scores = trunk.scored(
                        self.model,
                        lambda model: score_labels(
                            model, self.processing_class, mine, self.labels, self.label_batch_size, False
                        ),
                        [prompt_ids(self.processing_class, mine), self.labels, self.label_batch_size],
                    )
        finally:
            head.requires_grad_(head_trains)
            self.model.train(was_training)
        answers = dict(processes.gather(list(zip(own, best_labels(scores))), cpu=self.args.use_cpu))
        predicted = [answers[i] for i in range(len(records))]
        for name, value in label_metrics(predicted, [r["output"] for r in records], self.labels).items():
            output.metrics[f"{metric_key_prefix}_{name}"] = value
        output.metrics[f"{metric_key_prefix}_label_seconds"] = round(time.perf_counter() - started, 2)
        return output
