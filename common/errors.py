"""One kind of error for bad user input, and the CLI wrapper that reports it in one line.

Anything raised as `UserError` is the user's to fix (a file, a line, a field, a name): it is printed
as `error: ...` with exit code 2 and no traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

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


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run `main(argv)`; a UserError becomes one line on stderr and exit code 2 (unless --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = main(args)
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
