"""Logging: what the toolkit says while it works, how much of it, and the libraries' noise kept out of the way.

Every module logs through `get_logger(__name__)`, a child of the `sftbench` logger. Messages are single lines
on stdout (as a command's progress reads: "[ ok ] mushroom.base.score: ..."); `error: ...` lines for bad
input go to stderr (sftbench_common/errors.py). `sftbench --quiet` keeps warnings only, `--verbose` adds
debug lines and lets the libraries (transformers, datasets, Python warnings) speak as they would by default.

Under several processes (accelerate launch, torchrun) only the main process logs below WARNING, as
accelerate's `get_logger(main_process_only=True)` does, without needing its state set up first.

Progress bars (tqdm: training, scoring, conversion) show on a terminal and are off when stderr is not one,
so CI logs do not fill with carriage-return bars: tqdm reads TQDM_DISABLE when it is first imported, which
`setup_logging` sets before any library loads.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from sftbench_common import processes

ROOT = "sftbench"
QUIET, NORMAL, VERBOSE = -1, 0, 1


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (pytest's capture, a notebook's cell output)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def _root() -> logging.Logger:
    logger = logging.getLogger(ROOT)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if processes.is_main_process() else logging.WARNING)
        logger.propagate = False
    return logger


def get_logger(name: str) -> logging.Logger:
    """The logger of module `name` (pass __name__): `sftbench.sft.train` for sft/train.py."""
    _root()
    return logging.getLogger(f"{ROOT}.{name}")


def progress_bars_shown() -> bool:
    """Bars on a terminal, unless `setup_logging` (quiet, or not a terminal) or the user turned them off."""
    return sys.stderr.isatty() and os.environ.get("TQDM_DISABLE", "0").lower() in ("", "0", "false")


def setup_logging(verbosity: int = NORMAL) -> None:
    """Set how much the toolkit and the libraries under it say; call before the libraries are imported."""
    level = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}[verbosity]
    _root().setLevel(level if processes.is_main_process() else max(level, logging.WARNING))
    if not sys.stderr.isatty() or verbosity == QUIET:
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if verbosity < VERBOSE:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("DATASETS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        for category in (UserWarning, FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
    # On a CPU with AVX-512 BF16, importing bitsandbytes (peft does) warns through Python logging that it could
    # not fetch an optional 4-bit kernel from the Hub, then uses its own: a line of noise on every command.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR if verbosity < VERBOSE else logging.NOTSET)
