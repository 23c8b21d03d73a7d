"""One kind of error for bad user input, and how a command reports it in one line.

Anything raised as `UserError` is the user's to fix (a file, a line, a field, a name): it is printed
as `error: ...` with exit code 2 and no traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys

EXIT_BAD_INPUT = 2


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
    Ctrl-C says how to resume."""
    try:
        yield
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
