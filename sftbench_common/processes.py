"""Several processes (`accelerate launch --num_processes N`, torchrun): who writes, and when the others wait.

The launcher starts N copies of the same command and sets RANK / LOCAL_RANK / WORLD_SIZE. The Trainer
spreads the batches over them; everything else the toolkit does around training (the data files, the
converted model in the cache, the run folder's run.json, config.yaml, model card, export) is written by the
main process alone, while the others wait at a barrier. One process (no launcher) is the same code with
every barrier a no-op.

On a CPU-only machine `accelerate launch --cpu` starts one process (accelerate spreads CPU processes only
through MPI); configs/accelerate/ddp.yaml (distributed_type MULTI_GPU) starts N processes through torchrun
on any machine, and on CPU the Trainer joins them with gloo.

accelerate and torch load inside the functions: seconds to import, and a single process never needs them.
"""

from __future__ import annotations

import contextlib
import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """The process's index on this machine: its GPU under several processes (QLoRA's device_map)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def _state(cpu: bool):
    """accelerate's process state, joining the process group (gloo on CPU, nccl on GPUs) the first time. The
    Trainer later asks for the same state, so it finds the group already there."""
    from accelerate import PartialState

    return PartialState(cpu=cpu)


def wait_for_everyone(cpu: bool) -> None:
    if world_size() > 1:
        _state(cpu).wait_for_everyone()


@contextlib.contextmanager
def main_process_first(cpu: bool):
    """The main process runs the block first (and writes what it writes); the others run it after, and find
    the files there."""
    if world_size() == 1:
        yield
        return
    with _state(cpu).main_process_first():
        yield


def gather(items: list, cpu: bool) -> list:
    """Every process's `items`, concatenated in rank order, on every process."""
    if world_size() == 1:
        return list(items)
    from accelerate.utils import gather_object

    _state(cpu)
    return list(gather_object(list(items)))


def own_batches(starts: list[int]) -> list[int]:
    """This process's batches (their start indices) when the batches of a pass are spread over the processes:
    every N-th, whole, so each batch is computed exactly as one process would compute it."""
    return starts[rank() :: world_size()]


def gather_by_index(found: dict[int, object], cpu: bool) -> dict[int, object]:
    """Every process's {index: value}, merged, on every process (one process: `found` as it is)."""
    if world_size() == 1:
        return found
    return dict(gather(list(found.items()), cpu))


def shard(count: int) -> list[int]:
    """This process's share of `count` items: equal lengths on every process (the last share padded with
    the last index, so sharded models run the same number of forward passes everywhere)."""
    size = world_size()
    if size == 1:
        return list(range(count))
    per = -(-count // size)
    start = min(rank() * per, count)
    own = list(range(start, min(start + per, count)))
    return own + [count - 1] * (per - len(own))
