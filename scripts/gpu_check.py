"""The CUDA paths in one go (`make gpu-check`): a few minutes on a GPU machine, packaged models only, no network.

    python scripts/gpu_check.py            # every path; one summary line each: ok / failed, seconds, peak GPU MB
    python scripts/gpu_check.py --list     # the commands it would run, and nothing else

Each path is the real command a user runs (`sftbench ...` in a subprocess, on small data): LoRA and QLoRA (the
4-bit base on the GPU) training steps with shared prefixes in bf16 and in fp16, score and generate modes on a
LoRA run, a 2-process `accelerate launch` when there are two GPUs (one process otherwise), and the speed
benchmark on the GPU. Results go to a temporary folder; the repository's results/ is not touched. On a machine
without CUDA it says so and exits 0 (CI has no GPU). It exits 1 if any path failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
SMALL = ["task=tweets", "train_limit=32", "eval_limit=8", "max_steps=3", "save_steps=100", "report_to=none"]
BENCH_EXPERIMENT = """name: gpu-check
tasks: [tweets]
bench_limit: 16
runs:
  - {model: smollm2-135m-instruct, method: lora, overrides: {train_limit: 32, eval_limit: 8, max_steps: 3,
     save_steps: 100, report_to: none, precision: bf16}}
"""


def paths(gpus: int, folder: Path) -> list[tuple[str, list[str]]]:
    """(name, command) of every path to check."""
    sftbench = [sys.executable, "-m", "sftbench"]
    experiment = folder / "gpu-check.yaml"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    launch += [str(REPO / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", str(min(gpus, 2))]
    return [
        ("lora bf16, shared prefix", [*sftbench, "train", *SMALL, "method=lora", "precision=bf16", "lora_dropout=0"]),
        (
            "lora fp16, shared prefix",
            [*sftbench, "train", *SMALL, "method=lora", "precision=fp16", "lora_dropout=0", "run_name=lora-fp16"],
        ),  # fmt: skip
        ("qlora bf16 (4-bit base)", [*sftbench, "train", *SMALL, "method=qlora", "precision=bf16", "lora_dropout=0"]),
        (
            "qlora fp16 (4-bit base)",
            [*sftbench, "train", *SMALL, "method=qlora", "precision=fp16", "lora_dropout=0", "run_name=qlora-fp16"],
        ),  # fmt: skip
        ("train the run bench scores", [*sftbench, "train-all", "--experiment", str(experiment)]),
        (
            "bench score + generate",
            [*sftbench, "bench", "--experiment", str(experiment), "--device", "cuda", "--no-baselines"],
        ),  # fmt: skip
        (
            f"accelerate launch, {min(gpus, 2)} process(es)",
            [*launch, "-m", "sftbench", "train", *SMALL, "run_name=launched"],
        ),  # fmt: skip
        ("speed --device cuda", [*sftbench, "speed", "--device", "cuda", "--steps", "2", "--tasks", "tweets"]),
    ]


def peak_memory_mb(process: subprocess.Popen) -> int:
    """The most GPU memory in use while `process` runs (nvidia-smi, every 0.5 s), in MB."""
    peak = 0
    while process.poll() is None:
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], capture_output=True, text=True
        )
        used = [int(x) for x in query.stdout.split() if x.isdigit()]
        peak = max(peak, sum(used))
        time.sleep(0.5)
    return peak


def run(name: str, command: list[str], env: dict) -> bool:
    started = time.time()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = {}
    watcher = threading.Thread(target=lambda: result.update(peak=peak_memory_mb(process)))
    watcher.start()
    output, _ = process.communicate()
    watcher.join()
    seconds = time.time() - started
    if process.returncode == 0:
        print(f"ok      {name}: {seconds:.0f} s, peak GPU memory {result.get('peak', 0)} MB", flush=True)
        return True
    last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
    print(f"FAILED  {name}: {seconds:.0f} s, exit {process.returncode}: {last[0][:300]}", flush=True)
    return False


def main(argv: list[str]) -> int:
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    folder = Path(tempfile.mkdtemp(prefix="sftbench-gpu-check-"))
    if "--list" in argv:
        for name, command in paths(max(gpus, 1), folder):
            print(f"{name}: {' '.join(command)}")
        return 0
    if not gpus:
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing to check")
        return 0
    (folder / "gpu-check.yaml").write_text(BENCH_EXPERIMENT)
    env = {**os.environ, "SFTBENCH_RESULTS": str(folder / "results"), "HF_HUB_OFFLINE": "1"}
    print(f"gpu-check: {gpus} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}; results in {folder}")
    failed = [name for name, command in paths(gpus, folder) if not run(name, command, env)]
    print(f"gpu-check: {'all paths ok' if not failed else 'failed: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
