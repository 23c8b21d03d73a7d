"""One kind of error for bad user input, and how a command reports it in one line.

Anything raised as `UserError` is the user's to fix (a file, a line, a field, a name): it is printed
as `error: ...` with exit code 2 and no traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys

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
    except OSError as err:
        if debug or err.errno not in NO_ROOM:
            raise
        where = err.filename or "a file"
        print(
            f"error: could not write {where}: {NO_ROOM[err.errno]}; the files written before it are intact, and "
            f"the same command resumes once there is room",
            file=sys.stderr,
        )
        sys.exit(EXIT_BAD_INPUT)
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
