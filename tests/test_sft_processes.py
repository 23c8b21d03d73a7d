"""Several processes: `accelerate launch --num_processes 2` on CPU (gloo) trains one run folder, resumes, and
bench loads what it wrote; the sharding helpers; the example accelerate configs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from bench.generative import load_for_inference
from prompts.build import load_split
from sft.label_scoring import best_labels, score_labels
from sftbench_common import processes
from tests.helpers import QUICK_LORA, REPO

ARGS = [
    *QUICK_LORA,
    "run_name=smollm2-135m-instruct-lora",  # the folder the asserts read (sftbench train names it otherwise)
    "task=tweets",
    "model=smollm2-135m-instruct",
    "preset=cpu-fast",
    "train_limit=64",
    "eval_limit=16",
    "eval_steps=2",
    "save_steps=2",
    "logging_steps=1",
]


def launch(*args: str, config: str = "ddp") -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / f"{config}.yaml"),
        "--num_processes",
        "2",
        "-m",
        "sftbench",
        "train",
        *args,
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)


def logged(run_dir: Path, key: str) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [(row["step"], row[key]) for row in rows if key in row]


@pytest.mark.slow
def test_two_processes_train_one_run_folder_that_resumes_and_benchmarks(isolated_outputs):
    run_dir = isolated_outputs / "results" / "runs" / "tweets" / "smollm2-135m-instruct-lora"
    done = launch(*ARGS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run finished") == 1, done.stdout[-3000:]
    # both processes train on the shared-prefix path under DDP; the main one says so
    assert done.stdout.count("share_prefix: each batch's common prompt prefix") == 1, done.stdout[-3000:]
    run = json.loads((run_dir / "run.json").read_text())
    # 64 examples in batches of 8 on each of 2 processes: 4 optimizer steps, not 8
    assert run["status"] == "finished" and run["processes"] == 2 and run["global_step"] == 4
    losses = logged(run_dir, "loss")
    assert [step for step, _ in losses] == [1, 2, 3, 4], "each step logged once, by the main process"
    assert losses[-1][1] < losses[0][1]
    accuracy = logged(run_dir, "eval_label_accuracy")  # scored half by each process, then gathered
    assert [step for step, _ in accuracy] == [2, 4] and all(0 <= value <= 1 for _, value in accuracy)

    # Interrupted after its checkpoint at step 2: both processes resume from it, the log is not doubled.
    shutil.rmtree(run_dir / "checkpoints" / "checkpoint-4")
    shutil.rmtree(run_dir / "adapter")
    (run_dir / "run.json").write_text(json.dumps({**run, "status": "running"}))
    resumed = launch(*ARGS)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resuming") == 1 and "from checkpoint-2" in resumed.stdout
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["attempts"] == 2 and run["global_step"] == 4
    assert [step for step, _ in logged(run_dir, "loss")] == [1, 2, 3, 4]

    # bench loads the result and scores with it
    model, tokenizer = load_for_inference("smollm2-135m-instruct", run_dir)
    records = load_split("tweets", "val")[:8]
    labels = ["negative", "neutral", "positive"]
    answers = best_labels(score_labels(model, tokenizer, records, labels, batch_size=8, progress=False))
    assert len(answers) == 8 and set(answers) <= set(labels)


@pytest.mark.slow
def test_deepspeed_zero2_trains_one_run_folder(isolated_outputs):
    pytest.importorskip("deepspeed", reason="optional: pip install deepspeed==0.19.8 (configs/accelerate/zero2.yaml)")
    run_dir = isolated_outputs / "results" / "runs" / "tweets" / "smollm2-135m-instruct-lora"
    done = launch(*ARGS, config="zero2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run finished") == 1
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["processes"] == 2 and run["global_step"] == 4
    losses = logged(run_dir, "loss")
    assert [step for step, _ in losses] == [1, 2, 3, 4] and losses[-1][1] < losses[0][1]
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("count, size", [(16, 2), (7, 2), (5, 3), (1, 2)])
def test_shards_cover_every_index_with_equal_lengths(monkeypatch, count, size):
    shards = []
    for rank in range(size):
        monkeypatch.setenv("WORLD_SIZE", str(size))
        monkeypatch.setenv("RANK", str(rank))
        shards.append(processes.shard(count))
    assert len({len(s) for s in shards}) == 1
    assert sorted(set(i for s in shards for i in s)) == list(range(count))


def test_single_process_needs_no_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert processes.is_main_process() and processes.world_size() == 1
    assert processes.shard(3) == [0, 1, 2] and processes.gather([1, 2], cpu=True) == [1, 2]
    with processes.main_process_first(cpu=True):
        processes.wait_for_everyone(cpu=True)


@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("zero2", "DEEPSPEED")])
def test_example_accelerate_configs_load(name, kind):
    config = load_config_from_file(str(REPO / "configs" / "accelerate" / f"{name}.yaml"))
    assert config.distributed_type.value == kind and config.num_processes == 2
    if name == "fsdp":
        assert config.fsdp_config["fsdp_version"] == 2
