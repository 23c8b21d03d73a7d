"""Take a finished run elsewhere: a portable adapter, a merged model, an upload to the Hugging Face Hub.

    python -m sft.export results/runs/mushroom/smollm2-135m-instruct-lora --merge
    python -m sft.export results/runs/mushroom/smollm2-135m-instruct-lora --push-to-hub you/smollm2-mushroom

Training does the same when the config says `merge: true` or `push_to_hub: true` (with `hub_model_id`).

- Portable adapter: PEFT records the folder the base was loaded from (here a local cache) in
  adapter_config.json; it is replaced by the base's Hub id, so `AutoPeftModelForCausalLM.from_pretrained`
  works on another machine.
- Merged model (merged/): the base loaded in full precision, never quantized (for a QLoRA run too: the
  dequantized base), the adapter merged into it, saved as safetensors in the base's own dtype with the
  tokenizer and model card; `AutoModelForCausalLM.from_pretrained("merged")` loads it. The benchmark merges
  the same way, so merged/ scores as the run does.
- Hub upload: merged/ if there is one, else the adapter (or a full fine-tune's model/), with its card. It
  needs a network and a token (`huggingface-cli login` or HF_TOKEN); a failure is one clear error and the
  run stays as it was.

torch, transformers and peft load inside the functions: seconds to import, and --help must answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from huggingface_hub import HfApi

from common.errors import UserError, run_cli
from common.fileio import atomic_write_json
from sft import run_folders
from sft.model_card import write_model_card
from sft.models import ResolvedModel, base_model_id, hub_offline, load_causal_lm, load_tokenizer, resolve_model


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
    print(f"merged model: {target} (base + adapter, safetensors, {merged.dtype})")
    return target


def upload_folder(run_dir: Path) -> Path:
    for name in ("merged", "adapter", "model"):
        if (run_dir / name).is_dir():
            return run_dir / name
    raise UserError(f"{run_dir}: no merged/, adapter/ or model/ folder to upload; is the run finished?")


def check_can_push() -> None:
    """Offline, a push cannot work: say so before hours of training rather than after."""
    if hub_offline():
        raise UserError("push_to_hub: HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it, or push later")


def push_to_hub(run_dir: Path, repo_id: str, model: ResolvedModel) -> str:
    """Upload the run's merged model (else its adapter or model) with a card naming `repo_id`; returns the URL.
    (export_run has checked that the Hub can be reached at all, before merging.)"""
    folder = upload_folder(run_dir)
    write_model_card(run_dir, model, repo_id=repo_id)
    later = f"the run is saved; push it later: python -m sft.export {run_dir} --push-to-hub {repo_id}"
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=f"sftbench: {run_dir.name}")
    except Exception as err:  # no network, no token, no permission: one message, not a traceback
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise UserError(f"push_to_hub {repo_id}: {type(err).__name__}: {reason}; {later}") from None
    print(f"pushed {folder.name}/ to https://huggingface.co/{repo_id}")
    return f"https://huggingface.co/{repo_id}"


def export_run(run_dir: Path, model: ResolvedModel, merge: bool = False, repo_id: str | None = None) -> None:
    """What follows a finished training run: a portable adapter, its model card, merged/ and the upload if asked."""
    if repo_id:
        check_can_push()
    if (run_dir / "adapter").is_dir():
        make_adapter_portable(run_dir / "adapter", model)
    write_model_card(run_dir, model)
    if merge:
        export_merged(run_dir, model)
    if repo_id:
        push_to_hub(run_dir, repo_id, model)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sft.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run_dir", type=Path, help="a finished run, e.g. results/runs/mushroom/smollm2-135m-instruct-lora"
    )
    parser.add_argument("--merge", action="store_true", help="write merged/: base + adapter, safetensors")
    parser.add_argument("--push-to-hub", metavar="OWNER/NAME", help="upload merged/ (else the adapter) with its card")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    if not (args.merge or args.push_to_hub):
        parser.error("nothing to do: give --merge and/or --push-to-hub OWNER/NAME")
    export_run(args.run_dir, run_model(args.run_dir), merge=args.merge, repo_id=args.push_to_hub)
    return 0


if __name__ == "__main__":
    run_cli(main)
