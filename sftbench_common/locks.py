"""One writer at a time: a run folder trained by two processes, or one results folder benched twice, would
interleave their files. A lock is a file beside what it guards, held with an OS advisory lock (flock) for as
long as the work runs, its text the holder's host and pid (on a cluster the pid alone says nothing). The
operating system drops the lock when its process ends, however it ends, so a lock left by a killed process never
blocks the next run; the file may stay. Locks of what lies under the results folder live in its `.locks/`
folder, out of the way of anything that lists runs. A file system without flock (NFS without a lock daemon,
Lustre mounted without -o flock) is one clear error naming the folder and the ways on, never a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from sftbench_common import paths
from sftbench_common.errors import UserError


def lock_path(target: Path, results: Path | None = None) -> Path:
    """`target`'s lock: <results>/.locks/<its path under results>.lock (the results folder itself:
    <results>/.locks/folder.lock); outside the results folder, a hidden file beside it. Never inside `target`, so
    emptying or replacing it leaves the lock alone."""
    root = (results or paths.results_dir()).resolve()
    try:
        relative = Path(target).resolve().relative_to(root)
    except ValueError:
        return target.parent / f".{target.name}.lock"
    return root / ".locks" / (f"{relative}.lock" if relative.parts else "folder.lock")


def holder(target: Path, results: Path | None = None) -> str | None:
    """'host pid 1234': who holds `target`'s lock now, or None when nobody does (or locks are not supported)."""
    path = lock_path(target, results)
    if not path.is_file():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "unknown"
        except OSError:
            return None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def identity() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def unsupported(target: Path, error: OSError) -> UserError:
    return UserError(
        f"{target}: this file system does not support file locks ({error.strerror or error}); put the results "
        f"folder on one that does (a local disk; NFS with its lock daemon; Lustre mounted with -o flock), or "
        f"set SFTBENCH_RESULTS to such a folder"
    )


@contextlib.contextmanager
def exclusive(target: Path, what: str, hint: str, results: Path | None = None):
    """Hold `target`'s lock while the block runs; if another process holds it, one UserError names it:
    `results/runs/x: another training of this run is in progress (node7 pid 1234); <hint>`."""
    path = lock_path(target, results)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        who = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(f"{target}: another {what} is in progress ({who}); {hint}") from None
    except OSError as error:  # ENOLCK, EOPNOTSUPP, ENOSYS: no locks on this file system
        handle.close()
        raise unsupported(target, error) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(identity())
        handle.flush()
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
