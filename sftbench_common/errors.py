"""One kind of error for bad user input, and how a command reports it in one line.

Anything raised as `UserError` is the user's to fix (a file, a line, a field, a name): it is printed
as `error: ...` with exit code 2 and no traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import shutil
import signal
import sys

from sftbench_common import paths

EXIT_BAD_INPUT = 2
# A write the disk or a file-size limit (ulimit -f) refuses: the errnos that mean "no room", not a bug.
NO_ROOM = {errno.ENOSPC: "disk full", errno.EFBIG: "file too large for the file-size limit", errno.EDQUOT: "quota"}


class UserError(Exception):
    """Bad input the user can fix; the message names the file, line and field where known."""


def located(path, line: int | None = None, field: str | None = None) -> str:
    """'data.jsonl:12: field "label"' - the prefix every input error starts with."""
    where = str(path)
    if line is not None:
        where += f":{line}"
    if field is not None:
        where += f": field '{field}'"
    return where


def moved_to(command: str) -> None:
    """What `python -m MODULE` says now that one command, `sftbench`, runs every job."""
    sys.exit(
        f"this entry point moved: run `{command} ...` (or `python -m sftbench {command.split()[-1]} ...`); "
        f"`{command} --help` explains"
    )


def no_room(err: BaseException) -> str | None:
    """Why `err` (or what caused it) is a write refused for want of room, or None. Libraries wrap the OS error:
    safetensors says "I/O error: File too large (os error 27)", others chain an OSError."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in NO_ROOM:
            return NO_ROOM[err.errno]
        code = re.search(r"os error (\d+)", str(err))
        if code and int(code.group(1)) in NO_ROOM:
            return NO_ROOM[int(code.group(1))]
        if "inline_container" in str(err) and short_of_room():  # torch.save's zip writer says only "unexpected pos"
            return "disk full or file-size limit reached"
        err = err.__cause__ or err.__context__
    return None


def short_of_room() -> bool:
    """Whether a file-size limit is set or the results folder's disk has under 64 MB free."""
    folder = paths.results_dir()
    while not folder.exists():
        folder = folder.parent
    limited = (
        hasattr(resource, "RLIMIT_FSIZE") and resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY
    )
    return limited or shutil.disk_usage(folder).free < 64 * 2**20


def newest_file() -> str | None:
    """The file written last under the results and data folders: the one a refused write was writing."""
    folders = [paths.results_dir(), paths.data_dir()]
    files = [
        p
        for folder in folders
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return str(max(files, key=lambda p: p.stat().st_mtime_ns)) if files else None


@contextlib.contextmanager
def errors_reported(debug: bool = False):
    """Around a command: a UserError becomes one line on stderr and exit code 2 (its traceback with --debug);
    Ctrl-C says how to resume; a write refused for want of room names the file. Every file is written whole or
    not at all (atomic writes, complete checkpoints), so what was written before is intact and the same command
    resumes once there is room."""
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit a write then fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as err:
        reason = no_room(err)
        if debug or reason is None:
            raise
        where = getattr(err, "filename", None) or newest_file() or "a file"
        print(
            f"error: could not write {where}: {reason}; the files written before it are intact, and "
            f"the same command resumes once there is room",
            file=sys.stderr,
        )
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
