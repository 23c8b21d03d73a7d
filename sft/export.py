"""Take a finished run elsewhere: a portable adapter, a merged model, an upload to the Hugging Face Hub.

    sftbench export results/runs/mushroom/smollm2-135m-instruct-lora --merge
    sftbench export results/runs/mushroom/smollm2-135m-instruct-lora --push-to-hub you/smollm2-mushroom
    sftbench export results/runs/mushroom/smollm2-135m-instruct-lora --push-to-hub you/x --dry-run

Training does the same when the config says `merge: true` or `push_to_hub: true` (with `hub_model_id`).

- Portable adapter: PEFT records the folder the base was loaded from (here a local cache) in
  adapter_config.json; it is replaced by the base's Hub id, so `AutoPeftModelForCausalLM.from_pretrained`
  works on another machine.
- Merged model (merged/): the base loaded in full precision, never quantized (for a QLoRA run too: the
  dequantized base), the adapter merged into it, saved as safetensors in the base's own dtype with the
  tokenizer and model card; `AutoModelForCausalLM.from_pretrained("merged")` loads it. The benchmark merges
  the same way, so merged/ scores as the run does.
- Hub upload: merged/ if there is one, else the adapter (or a full fine-tune's model/), with its card: only
  weights, configs, tokenizer files and the card (anything else in the folder stops the push with one line,
  unless named with --include), and no absolute path of the user's files (sft/config.py shareable_config).
  --dry-run lists the files and their sizes and sends nothing. It needs a network and a token
  (`huggingface-cli login` or HF_TOKEN); a failure is one clear error and the
  run stays as it was.

torch, transformers and peft load inside the functions: seconds to import, and --help must answer at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path

import yaml
from huggingface_hub import HfApi

from sft import run_folders
from sft.model_card import write_model_card
from sft.models import ResolvedModel, base_model_id, hub_offline, load_causal_lm, load_tokenizer, resolve_model
from sftbench_common.errors import UserError, moved_to
from sftbench_common.fileio import atomic_write_json
from sftbench_common.logs import get_logger

log = get_logger(__name__)


def make_adapter_portable(adapter_dir: Path, model: ResolvedModel) -> None:
    """adapter_config.json names the base by its Hub id (where there is one), not this machine's folder."""
    base = base_model_id(model)
    path = adapter_dir / "adapter_config.json"
    if base is None or not path.is_file():
        return
    config = json.loads(path.read_text())
    if config.get("base_model_name_or_path") != base:
        atomic_write_json(path, {**config, "base_model_name_or_path": base})


def merge_adapter(model: ResolvedModel, adapter_dir: Path):
    """The full-precision (fp32) base with the adapter merged in: one plain transformers model."""
    from peft import PeftModel  # heavy (6 s)

    return PeftModel.from_pretrained(load_causal_lm(model), adapter_dir).merge_and_unload()


def base_dtype(model: ResolvedModel):
    """The dtype the base model's weights are published in (config.json), fp32 when it does not say."""
    import torch

    config = json.loads((Path(model.path) / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    return getattr(torch, name, torch.float32)


def run_model(run_dir: Path) -> ResolvedModel:
    if not run_folders.is_finished(run_dir):
        raise UserError(f"{run_dir}: not a finished run (its run.json does not say finished)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return resolve_model(config["model"])


def export_merged(run_dir: Path, model: ResolvedModel | None = None) -> Path:
    """Write run_dir/merged (atomically: a half-written folder never replaces a good one)."""
    model = model or run_model(run_dir)
    adapter_dir = run_dir / "adapter"
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{run_dir}: no adapter/ to merge (merge is for lora and qlora runs; full runs are whole)")
    merged = merge_adapter(model, adapter_dir).to(base_dtype(model))
    target = run_dir / "merged"
    staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=".merged."))
    try:
        merged.save_pretrained(staging, safe_serialization=True)
        load_tokenizer(model).save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_model_card(run_dir, model)
    log.info(f"merged model: {target} (base + adapter, safetensors, {merged.dtype})")
    return target


def upload_folder(run_dir: Path) -> Path:
    for name in ("merged", "adapter", "model"):
        if (run_dir / name).is_dir():
            return run_dir / name
    raise UserError(f"{run_dir}: no merged/, adapter/ or model/ folder to upload; is the run finished?")


# What an upload may hold: weights, configs, the tokenizer and the card. Anything else found in the folder (a
# data file, predictions, logs) is refused unless named with --include.
UPLOADABLE = (
    "*.safetensors",
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "spiece.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "README.md",
)


# Written beside the weights by transformers' Trainer, and left out of an upload without a word: a pickle of the
# training arguments, which holds this machine's paths.
LEFT_OUT = ("training_args.bin",)


def upload_files(folder: Path, include: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """Every file the upload of `folder` sends, (path inside the folder, bytes); a file that is not weights,
    config, tokenizer or card, and not named in `include`, stops it with one line naming each such file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [p for p in files if p.relative_to(folder).as_posix() not in LEFT_OUT or p.name in include]
    names = [p.relative_to(folder).as_posix() for p in files]
    refused = [n for n in names if n not in include and not any(fnmatch(Path(n).name, g) for g in UPLOADABLE)]
    if refused:
        raise UserError(
            f"{folder}: not uploading {', '.join(refused)}: not weights, config, tokenizer or model card; move it "
            f"out of the folder, or name it with --include to upload it anyway"
        )
    return [(name, path.stat().st_size) for name, path in zip(names, files, strict=True)]


def describe_upload(folder: Path, repo_id: str, files: list[tuple[str, int]]) -> str:
    lines = [f"would upload {folder} to https://huggingface.co/{repo_id} ({len(files)} files):"]
    lines += [f"  {size:>13,}  {name}" for name, size in files]
    lines.append(f"  {sum(size for _, size in files):>13,}  bytes in all")
    return "\n".join(lines)


def check_can_push() -> None:
    """Offline, a push cannot work: say so before hours of training rather than after."""
    if hub_offline():
        raise UserError("push_to_hub: HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it, or push later")


def push_to_hub(
    run_dir: Path, repo_id: str, model: ResolvedModel, dry_run: bool = False, include: tuple[str, ...] = ()
) -> str | None:
    """Upload the run's merged model (else its adapter or model) with a card naming `repo_id`; returns the URL.
    The files are checked first (upload_files); `dry_run` lists them, with the card written as it would be
    sent, and uploads nothing. (export_run has checked that the Hub can be reached at all, before merging.)"""
    folder = upload_folder(run_dir)
    write_model_card(run_dir, model, repo_id=repo_id)
    files = upload_files(folder, include)
    if dry_run:
        log.info(describe_upload(folder, repo_id, files))
        return None
    later = f"the run is saved; push it later: sftbench export {run_dir} --push-to-hub {repo_id}"
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=[name for name, _ in files],  # exactly the files checked above
            commit_message=f"sftbench: {run_dir.name}",
        )
    except Exception as err:  # no network, no token, no permission: one message, not a traceback
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise UserError(f"push_to_hub {repo_id}: {type(err).__name__}: {reason}; {later}") from None
    log.info(f"pushed {folder.name}/ to https://huggingface.co/{repo_id}")
    return f"https://huggingface.co/{repo_id}"


def export_run(
    run_dir: Path,
    model: ResolvedModel,
    merge: bool = False,
    repo_id: str | None = None,
    dry_run: bool = False,
    include: tuple[str, ...] = (),
) -> None:
    """What follows a finished training run: a portable adapter, its model card, merged/ and the upload if asked
    (with `dry_run`, the list of what it would send)."""
    if repo_id and not dry_run:
        check_can_push()
    if (run_dir / "adapter").is_dir():
        make_adapter_portable(run_dir / "adapter", model)
    write_model_card(run_dir, model)
    if merge:
        export_merged(run_dir, model)
    if repo_id:
        push_to_hub(run_dir, repo_id, model, dry_run, include)


if __name__ == "__main__":
    moved_to("sftbench export")
