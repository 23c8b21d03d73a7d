"""The frozen trunk computed once: with LoRA on a model's top layers only, the layers below the lowest adapter
never change, so their output for a given token sequence is the same in every epoch, seed, sweep setting and
learning-curve size, and for the base model and every such fine-tuned model in the benchmark.

The trunk is layers [0, boundary) with the embeddings; `boundary` is the lowest decoder layer that trains. Its
output (the hidden states entering layer `boundary`) is all the upper layers need besides what the model
derives again itself from the attention mask and the positions (the causal mask, the rotary embedding), so a
cached forward hands those states to the model as `inputs_embeds` with the trunk's layers passed through
(`skipping`). Everything else, padding side, mask and position ids included, is the model's own code.

Two uses:

* Training (TrunkCacheMixin, mixed into the SFTTrainer): each training or evaluation batch looks its rows up in
  a TrunkStore by their token ids; a batch whose rows are all there runs only the upper layers (with the
  shared prompt prefix run once on top, sft/shared_prefix.py), any other batch runs whole and stores each row's
  trunk output on the way (a pre-hook on layer `boundary`: no extra work). It is on where the trunk is frozen
  and dropout-free (otherwise a cached run would be another training) and off with activation checkpointing.
* The benchmark (TrunkTape): while the base model scores a task's test records, every model call's trunk output
  is recorded in order; each fine-tuned model whose adapters all sit at or above the boundary then replays the
  same calls with its upper layers only. The lower layers of such a merged model are the base model's bit for
  bit, so the replay computes what the whole model would.

A row's trunk output is keyed by everything that determines it: the model's weight files (a content hash), the
precision and device, the attention implementation, the torch version, the boundary and the row's token ids
(which carry the tokenizer, the chat template, the instruction, max_length and any shortening of the input). A
change to any of them misses the cache. The store keeps at most `memory_bytes` in memory (least recently used
out first) and `disk_bytes` on disk under the cache folder ($SFTBENCH_CACHE/trunk/, shared by every run and
process; `sftbench cache` shows and clears it). Past either limit, or when a write fails (a full disk), rows are
simply not kept and are computed again: a run never fails for its cache. Size: hidden size x bytes per value
per token, e.g. SmolLM2-135M: 576 x 2 = 1,152 bytes a token in bf16, 2,304 in fp32; a 145-token mushroom record
167 KB in bf16 (334 KB in fp32).

torch and safetensors load inside the functions (seconds to import; --help answers at once).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import os
import tempfile
import time
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np

from sft.label_scoring import common_prefix_length
from sftbench_common.logs import get_logger
from sftbench_common.paths import cache_dir

log = get_logger(__name__)

MEMORY_BYTES = 4 * 1024**3  # states kept in this process
TAPE_BYTES = 1024**3  # evaluation tapes kept in this process (Trunk.scored)
DEFAULT_TRUNK_CACHE_GB = 8  # states kept under the cache folder (config: trunk_cache_gb)
DISK_BYTES = DEFAULT_TRUNK_CACHE_GB * 1024**3
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.gguf")


# ---------------------------------------------------------------- the model's layers


EVALUATION_TAPES: OrderedDict[str, TrunkTape] = OrderedDict()  # Trunk.scored's, least recently used first


def decoder_layers(model):
    """The ModuleList of a causal LM's transformer layers (PEFT-wrapped or not)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder().layers


def lowest_trained_layer(model) -> int:
    """The index of the lowest decoder layer with a trainable parameter: 0 where the embeddings train, the layer
    count where nothing below the head does (a base model)."""
    if any(p.requires_grad for p in model.get_input_embeddings().parameters()):
        return 0
    layers = decoder_layers(model)
    return next((i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())), len(layers))


def reason_not_to_cache(model, boundary: int, gradient_checkpointing: bool) -> str | None:
    """Why the trunk's output cannot stand in for running it in training (None: it can)."""
    import torch

    if boundary < 1:
        return "the lowest layer trains (no frozen trunk below an adapter; lora_layers=N adapts only the top N)"
    if gradient_checkpointing:
        return "activation checkpointing is on"
    text_config = model.config.get_text_config()
    dropout = [
        m.p for layer in decoder_layers(model)[:boundary] for m in layer.modules() if isinstance(m, torch.nn.Dropout)
    ]
    dropout.append(float(getattr(text_config, "attention_dropout", 0.0) or 0.0))
    if max(dropout) > 0:
        return f"dropout p={max(dropout):g} in the trunk makes its output differ from step to step"
    return None


@contextlib.contextmanager
def skipping(layers, indices):
    """Run the model with these decoder layers passed through: each returns its input. A KV cache still gets an
    entry of the right length for each (one value a position), since the model reads the cache's length to
    size the attention mask."""

    def passthrough(index):
        def forward(hidden_states, *args, past_key_values=None, **kwargs):
            if past_key_values is not None:
                placeholder = hidden_states.new_zeros(hidden_states.shape[0], 1, hidden_states.shape[1], 1)
                past_key_values.update(placeholder, placeholder, index)
            return hidden_states

        return forward

    indices = list(indices)
    for index in indices:
        layers[index].forward = passthrough(index)
    try:
        yield
    finally:
        for index in indices:
            del layers[index].forward  # the class's forward again


@contextlib.contextmanager
def capturing(layers, boundary: int):
    """Collect the hidden states entering layer `boundary` on every forward pass while the block runs."""
    captured = []

    def hook(module, args, kwargs):
        captured.append((args[0] if args else kwargs["hidden_states"]).detach())

    handle = layers[boundary].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield captured
    finally:
        handle.remove()


# ---------------------------------------------------------------- keys and the store


@functools.lru_cache(maxsize=8)
def weights_hash(folder: str, signature: tuple) -> str:
    """sha256 over the model folder's weight files (name and content), computed once per process and folder."""
    digest = hashlib.sha256()
    for path in sorted(p for pattern in WEIGHT_FILES for p in Path(folder).glob(pattern)):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def model_key(model_folder: Path, boundary: int, dtype, attention: str, device: str, quantized: bool) -> str:
    """The part of every row's key that comes from the model and how it runs."""
    import torch

    files = sorted(p for pattern in WEIGHT_FILES for p in Path(model_folder).glob(pattern))
    signature = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    described = {
        "weights": weights_hash(str(model_folder), signature),
        "boundary": boundary,
        "dtype": str(dtype),
        "attention": attention,
        "device": device,
        "quantized": quantized,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


def row_key(model: str, token_ids) -> str:
    """'<model key>/<hash of the token ids>'."""
    return f"{model}/{hashlib.sha256(np.asarray(token_ids, dtype=np.int64).tobytes()).hexdigest()}"


def trunk_folder() -> Path:
    return cache_dir() / "trunk"


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


class TrunkStore:
    """Rows' trunk outputs by key: in memory (least recently used out past `memory_bytes`), and on disk (one
    safetensors file a row, written atomically, none past `disk_bytes`; a failed write stops writing with one
    warning). Reads never fail a run: a file that cannot be read is a miss."""

    def __init__(self, folder: Path, memory_bytes: int = MEMORY_BYTES, disk_bytes: int = DISK_BYTES):
        self.folder, self.memory_bytes, self.disk_bytes = folder, memory_bytes, disk_bytes
        self.memory: OrderedDict[str, object] = OrderedDict()
        self.in_memory = 0
        self.on_disk = folder_bytes(folder) if folder.is_dir() else 0
        self.writing = disk_bytes > 0
        self.hits = self.misses = self.not_kept = 0

    def describe(self, model: str, about: dict) -> None:
        """<model key>/about.json: what the key stands for (`sftbench cache` shows it)."""
        path = self.folder / model / "about.json"
        if self.writing and not path.is_file():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(about, indent=1))
            except OSError:
                pass  # a description only; the first put() reports a disk that refuses writes

    def path(self, key: str) -> Path:
        model, row = key.split("/")
        return self.folder / model / row[:2] / f"{row}.safetensors"

    def get(self, key: str):
        if key in self.memory:
            self.memory.move_to_end(key)
            self.hits += 1
            return self.memory[key]
        path = self.path(key)
        if path.is_file():
            from safetensors.torch import load_file

            try:
                states = load_file(path)["states"]
            except Exception:  # noqa: BLE001 - a damaged file is a miss; the row is computed again
                states = None
            if states is not None:
                self.remember(key, states)
                self.hits += 1
                return states
        self.misses += 1
        return None

    def remember(self, key: str, states) -> None:
        size = states.numel() * states.element_size()
        if size > self.memory_bytes:
            return
        self.memory[key] = states
        self.in_memory += size
        while self.in_memory > self.memory_bytes:
            _, dropped = self.memory.popitem(last=False)
            self.in_memory -= dropped.numel() * dropped.element_size()

    def put(self, key: str, states) -> None:
        states = states.detach().to("cpu").contiguous().clone()
        self.remember(key, states)
        size = states.numel() * states.element_size()
        if not self.writing or self.path(key).is_file():
            return
        if self.on_disk + size > self.disk_bytes:
            self.not_kept += 1
            return
        from safetensors.torch import save_file

        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(handle)
            save_file({"states": states}, staging)
            os.replace(staging, path)
            self.on_disk += size
        except OSError as error:
            self.writing = False
            log.warning(
                f"trunk cache: not writing to {self.folder} any more ({error.strerror or error}); computing instead"
            )
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(staging)


@functools.lru_cache(maxsize=4)
def shared_store(folder: str, disk_bytes: int) -> TrunkStore:
    """One store per folder and process: every run of a `train-all` shares what the others computed."""
    return TrunkStore(Path(folder), disk_bytes=disk_bytes)


def cache_summary(folder: Path | None = None) -> dict:
    """{model key: {rows, bytes}} of the trunk cache on disk (`sftbench cache`)."""
    folder = folder or trunk_folder()
    summary = {}
    for model_folder in sorted(p for p in folder.glob("*") if p.is_dir()):
        files = list(model_folder.glob("*/*.safetensors"))  # <model key>/<2 hex digits>/<row hash>.safetensors
        about = model_folder / "about.json"
        summary[model_folder.name] = {
            "rows": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "about": json.loads(about.read_text()) if about.is_file() else {},
        }
    return summary


# ---------------------------------------------------------------- training from the cache


class Trunk:
    """A model's trunk below `boundary` and the store its rows' outputs go to."""

    def __init__(self, model, boundary: int, key: str, store: TrunkStore):
        self.model, self.boundary, self.key, self.store = model, boundary, key, store
        self.layers = decoder_layers(model)

    def keys(self, input_ids, lengths) -> list[str]:
        return [row_key(self.key, input_ids[row, :length].tolist()) for row, length in enumerate(lengths)]

    def scored(self, model, score, description: list):
        """`score(model)`, a scoring pass over the same records every evaluation of every run of this model and
        trunk (the val records' label scoring): recorded on a TrunkTape the first time, replayed after."""
        key = hashlib.sha256(json.dumps([self.key, self.boundary, description]).encode()).hexdigest()
        tape = EVALUATION_TAPES.get(key)
        if tape is not None:
            EVALUATION_TAPES.move_to_end(key)
            return score(tape.replaying(model))
        tape = TrunkTape(self.boundary)
        with tape.recording(model):
            result = score(model)
        EVALUATION_TAPES[key] = tape
        while sum(t.bytes for t in EVALUATION_TAPES.values()) > TAPE_BYTES and len(EVALUATION_TAPES) > 1:
            EVALUATION_TAPES.popitem(last=False)
        return result


def right_padded_lengths(attention_mask) -> list[int] | None:
    """Each row's real length where the batch is right-padded (the only layout the cache keys by), else None."""
    lengths = attention_mask.sum(1)
    positions = attention_mask.new_ones(attention_mask.shape).cumsum(1)
    if not bool((attention_mask == (positions <= lengths[:, None])).all()):
        return None
    return lengths.tolist()


class TrunkCachedForward:
    """Wraps a causal LM's (TRL fused-LM-head) forward, already wrapped for the shared prefix if that is on."""

    def __init__(self, model, inner, trunk: Trunk):
        self.model, self.inner, self.trunk = model, inner, trunk

    def __call__(self, *args, **kwargs):
        import torch

        mask, input_ids = kwargs.get("attention_mask"), kwargs.get("input_ids")
        if args or not kwargs.get("fused_lm_head") or mask is None or input_ids is None:
            return self.inner(*args, **kwargs)
        lengths = right_padded_lengths(mask)
        if lengths is None:
            return self.inner(*args, **kwargs)
        keys = self.trunk.keys(input_ids, lengths)
        found = [self.trunk.store.get(key) for key in keys]
        if any(states is None for states in found):
            return self.computing(keys, lengths, kwargs)
        hidden = torch.zeros((*input_ids.shape, found[0].shape[-1]), dtype=found[0].dtype, device=input_ids.device)
        for row, states in enumerate(found):
            hidden[row, : states.shape[0]] = states.to(input_ids.device)
        return self.from_trunk(hidden, kwargs)

    def computing(self, keys: list[str], lengths: list[int], kwargs: dict):
        """The whole forward, keeping each row's trunk output (the prefix's, when run once, for every row)."""
        import torch

        with capturing(self.trunk.layers, self.trunk.boundary) as captured:
            output = self.inner(**kwargs)
        if len(captured) == 2:  # the shared prefix (one row), then each row's rest
            prefix, rest = captured
            captured = [torch.cat([prefix.expand(rest.shape[0], -1, -1), rest], dim=1)]
        states = captured[0]
        for row, (key, length) in enumerate(zip(keys, lengths)):
            self.trunk.store.put(key, states[row, :length])
        return output

    def from_trunk(self, hidden, kwargs: dict):
        """The upper layers only, from the trunk's output; a shared prefix runs once on top, as without the cache."""
        import torch

        rest = {k: v for k, v in kwargs.items() if k not in ("input_ids", "inputs_embeds", "shared_prefix_length")}
        prefix_length = kwargs.get("shared_prefix_length", 0)
        with skipping(self.trunk.layers, range(self.trunk.boundary)):
            if not prefix_length:
                return self.inner(inputs_embeds=hidden, **rest)
            prefix = self.model.base_model(inputs_embeds=hidden[:1, :prefix_length], use_cache=True)
            cache = prefix.past_key_values
            cache.batch_repeat_interleave(hidden.shape[0])
            rest["labels"] = kwargs["labels"][:, prefix_length:]
            if kwargs.get("position_ids") is not None:
                rest["position_ids"] = kwargs["position_ids"][:, prefix_length:]
            else:
                rest["position_ids"] = torch.arange(prefix_length, hidden.shape[1], device=hidden.device).expand(
                    hidden.shape[0], -1
                )
            return self.inner(inputs_embeds=hidden[:, prefix_length:], past_key_values=cache, **rest)


def add_trunk_cache(model, trunk: Trunk) -> None:
    """Give `model` (the causal LM TRL patched) the cached forward, over whatever forward it has now."""
    wrapper = TrunkCachedForward(model, model.forward, trunk)

    def forward(self, *args, **kwargs):
        return wrapper(*args, **kwargs)

    model.forward = types.MethodType(functools.wraps(type(model).forward)(forward), model)


PRECOMPUTE_BATCH = 8  # records a forward pass of the trunk alone, in order of length (little padding)


class TrunkCacheMixin:
    """Mixed into TRL's SFTTrainer (sft/train.py `sft_trainer_class`), outside SharedPrefixMixin: each batch's
    frozen trunk is looked up, or computed and kept (see the module's docstring). `trunk_cache`: the model's
    folder, whether it is quantized, the store's folder and disk limit (sft/train.py sft_trainer)."""

    def __init__(self, *args, trunk_cache: dict, **kwargs):
        from peft import PeftModel

        super().__init__(*args, **kwargs)
        lm = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        boundary = lowest_trained_layer(self.model)
        why_not = reason_not_to_cache(self.model, boundary, self.args.gradient_checkpointing)
        if why_not:
            log.info(f"trunk cache: off ({why_not})")
            self.trunk = None
            return
        dtype = next(p.dtype for p in decoder_layers(self.model)[0].parameters())
        key = model_key(
            trunk_cache["model_folder"],
            boundary,
            dtype,
            lm.config._attn_implementation,
            str(next(lm.parameters()).device),
            trunk_cache["quantized"],
        )
        store = shared_store(str(trunk_cache["folder"] or trunk_folder()), trunk_cache["disk_bytes"])
        about = {"model": Path(trunk_cache["model_folder"]).name, "layers": f"0-{boundary - 1}", "dtype": str(dtype)}
        store.describe(key, about)
        self.trunk = Trunk(lm, boundary, key, store)
        add_trunk_cache(lm, self.trunk)
        self.trunk_decoder = lm.get_decoder()
        log.info(
            f"trunk cache: layers 0-{boundary - 1} of {len(self.trunk.layers)} are frozen; their output per record "
            f"is computed once and kept ({store.folder})"
        )

    def train(self, *args, **kwargs):
        if self.trunk is not None:
            self.precompute_trunk()
        return super().train(*args, **kwargs)

    def precompute_trunk(self) -> None:
        """The trunk's output for every train and val record not in the cache yet, before the first step: a
        forward pass of the trunk alone (no upper layers, no LM head, no autograd), the prompt text every record
        shares run once (its KV cache handed to each batch, as in scoring: sft/label_scoring.py), then batches of
        records of similar length; every training step then runs the upper layers only."""
        import torch

        trunk, layers = self.trunk, self.trunk.layers
        rows = [r for data in (self.train_dataset, self.eval_dataset) if data is not None for r in data]
        missing: dict[str, list[int]] = {}
        for row in rows:
            key = row_key(trunk.key, row["input_ids"])
            if key not in missing and trunk.store.get(key) is None:
                missing[key] = list(row["input_ids"])
        if not missing:
            return
        started = time.perf_counter()
        order = sorted(missing.items(), key=lambda item: len(item[1]))
        shared = common_prefix_length([ids for _, ids in order])
        device = next(self.trunk.model.parameters()).device
        top = range(trunk.boundary, len(layers))
        with torch.inference_mode(), self.autocast_smart_context_manager(), skipping(layers, top):
            prefix_cache, prefix_states = None, None
            if shared:
                with capturing(layers, trunk.boundary) as out:
                    prefix_cache = self.trunk_decoder(
                        input_ids=torch.tensor([order[0][1][:shared]], device=device), use_cache=True
                    ).past_key_values
                prefix_states = out[0][0]
            for start in range(0, len(order), PRECOMPUTE_BATCH):
                batch = order[start : start + PRECOMPUTE_BATCH]
                rest = [ids[shared:] for _, ids in batch]
                width = max(map(len, rest))
                input_ids = torch.tensor([ids + [0] * (width - len(ids)) for ids in rest], device=device)
                mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in rest], device=device)
                cache = None
                if prefix_cache is not None:
                    cache = copy.deepcopy(prefix_cache)
                    cache.batch_repeat_interleave(len(batch))
                    mask = torch.cat([mask.new_ones((len(batch), shared)), mask], dim=1)
                positions = torch.arange(shared, shared + width, device=device).expand(len(batch), -1)
                with capturing(layers, trunk.boundary) as out:
                    self.trunk_decoder(
                        input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                        use_cache=cache is not None,
                    )  # fmt: skip
                for (key, ids), states in zip(batch, out[0]):
                    own = states[: len(ids) - shared]
                    trunk.store.put(key, own if prefix_states is None else torch.cat([prefix_states, own]))
        log.info(f"trunk cache: {len(order)} record(s) computed in {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------- the benchmark: one trunk pass for every model


class TrunkTape:
    """The trunk's output of every model call of one scoring pass (score mode: the shared prefix, each batch of
    prompts, each batch's label continuations), in call order, recorded while the base model scores; replayed
    by each model whose layers below `boundary` are the base model's. Training's evaluations use it too: the
    val records are scored the same way at every evaluation of every run (Trunk.scored)."""

    def __init__(self, boundary: int):
        self.boundary, self.states = boundary, []

    @property
    def bytes(self) -> int:
        return sum(s.numel() * s.element_size() for s in self.states)

    @contextlib.contextmanager
    def recording(self, model, trunk_only: bool = False):
        """Record while the block scores with `model`; `trunk_only` passes the upper layers through (a pass for
        the tape alone: its scores are not used)."""
        layers = decoder_layers(model)
        skipped = skipping(layers, range(self.boundary, len(layers))) if trunk_only else contextlib.nullcontext()
        with skipped, capturing(layers, self.boundary) as captured:
            yield self
        self.states = captured

    def recorder(self, model) -> RecordingModel:
        """`model` recording a scoring pass that may also generate (score_and_answer): only the scoring calls
        reach the tape."""
        return RecordingModel(model, self)

    def replaying(self, model) -> ReplayedModel:
        return ReplayedModel(model, self)


class RecordingModel:
    """`model` as the scoring code calls it, each call's trunk output appended to the tape. Answers it decodes
    go through `whole_model`, unrecorded, continuing from the pass's KV cache (sft/label_scoring.py Decoder)."""

    continues_from_cache = True

    def __init__(self, model, tape: TrunkTape):
        self.whole_model, self.tape = model, tape
        self.layers = decoder_layers(model)
        tape.states = []

    def parameters(self):
        return self.whole_model.parameters()

    def __call__(self, **kwargs):
        with capturing(self.layers, self.tape.boundary) as captured:
            output = self.whole_model(**kwargs)
        self.tape.states.extend(captured)
        return output


class ReplayedModel:
    """`model` as the scoring code calls it (model(input_ids=..., ...), model.parameters()), each call served from
    the tape: the recorded trunk output as inputs_embeds, the trunk's layers passed through. Its KV cache holds
    the upper layers alone, so answers it cannot read off the scores are decoded by `whole_model` from the
    prompt (sft/label_scoring.py Decoder)."""

    continues_from_cache = False

    def __init__(self, model, tape: TrunkTape):
        self.whole_model, self.tape, self.calls = model, tape, iter(tape.states)
        self.layers = decoder_layers(model)

    def parameters(self):
        return self.whole_model.parameters()

    def __call__(self, input_ids=None, **kwargs):
        states = next(self.calls, None)
        if states is None or tuple(states.shape[:2]) != tuple(input_ids.shape):
            raise RuntimeError("trunk tape: this scoring pass differs from the recorded one (records, batch size)")
        with skipping(self.layers, range(self.tape.boundary)):
            return self.whole_model(inputs_embeds=states.to(input_ids.device), **kwargs)


def adapter_boundary(run_dir: Path) -> int:
    """The lowest decoder layer a finished run changed: its LoRA adapter's lowest layer (layers_to_transform),
    0 for an adapter on every layer, on the embeddings, or a fully fine-tuned model."""
    config_file = Path(run_dir) / "adapter" / "adapter_config.json"
    if not config_file.is_file():
        return 0
    config = json.loads(config_file.read_text())
    layers = config.get("layers_to_transform")
    saved = " ".join(config.get("modules_to_save") or []) + " " + str(config.get("target_modules"))
    if layers is None or "embed" in saved:
        return 0
    return min(layers) if isinstance(layers, list) else int(layers)
