"""One run across two "machines": configs/accelerate/multi-node.yaml launched twice on this machine, node ranks 0
and 1 of one CPU process each, meeting through torchrun's c10d rendezvous on 127.0.0.1. One run folder, the
step count of a 2-process run, and a resume after both are killed mid-run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from accelerate.commands.config.config_args import load_config_from_file

from tests.helpers import QUICK_LORA, REPO

CONFIG = REPO / "configs" / "accelerate" / "multi-node.yaml"
# 32 records in batches of 4 on each of 2 processes: 4 optimizer steps, a checkpoint after each
ARGS = [
    "run_name=smollm2-135m-instruct-lora",  # the folder the asserts read (sftbench train names it otherwise)
    "task=tweets",
    "model=smollm2-135m-instruct",
    "preset=cpu-fast",
    "train_limit=32",
    "batch_size=4",
    *QUICK_LORA,
    "eval_limit=8",
    "eval_steps=null",
    "save_steps=1",
    "logging_steps=1",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nodes(port: int, logs: Path) -> list[subprocess.Popen]:
    """Both machines' commands, as a user types them on each (only --machine_rank differs); their output goes
    to logs/node<rank>.txt (a pipe nobody reads while the test waits could fill and stall them)."""
    nodes = []
    for rank in (0, 1):
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
            "--num_processes", "2", "--machine_rank", str(rank),
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
            "-m", "sftbench", "train", *ARGS,
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        nodes.append(
            subprocess.Popen(
                command, cwd=REPO, env=env, stdout=(logs / f"node{rank}.txt").open("w"), stderr=subprocess.STDOUT
            )  # fmt: skip
        )
    return nodes


def finish(nodes: list[subprocess.Popen], logs: Path) -> list[str]:
    for node in nodes:
        node.wait(timeout=900)
    outputs = [(logs / f"node{rank}.txt").read_text() for rank in (0, 1)]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    return outputs


def test_the_multi_node_config_loads():
    config = load_config_from_file(str(CONFIG))
    assert config.distributed_type.value == "MULTI_GPU" and config.num_machines == 2
    assert config.rdzv_backend == "c10d" and config.main_process_port == 29500


@pytest.mark.slow
def test_two_nodes_train_one_run_folder_and_resume_after_a_kill(isolated_outputs, tmp_path):
    run_dir = isolated_outputs / "results" / "runs" / "tweets" / "smollm2-135m-instruct-lora"
    nodes = start_nodes(free_port(), tmp_path)
    deadline = time.time() + 600
    while not (run_dir / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file():
        running = time.time() < deadline and all(node.poll() is None for node in nodes)
        assert running, (tmp_path / "node0.txt").read_text()[-3000:]
        time.sleep(0.5)
    # both machines lose power at once: every process of both launches, trainers included (torchrun starts
    # its workers in sessions of their own, so killing the launcher's process group would leave them running)
    tree = [psutil.Process(node.pid) for node in nodes]
    tree += [child for process in list(tree) for child in process.children(recursive=True)]
    for process in tree:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(tree, timeout=60)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    outputs = finish(start_nodes(free_port(), tmp_path), tmp_path)
    assert "resuming" in outputs[0] and "from checkpoint-" in outputs[0], outputs[0][-3000:]
    assert outputs[0].count("run finished") == 1 and "run finished" not in outputs[1]  # rank 0 writes the folder
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["processes"] == 2 and run["global_step"] == 4 and run["attempts"] == 2
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "loss" in row] == [1, 2, 3, 4]  # each step logged once, none twice
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
