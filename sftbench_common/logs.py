"""Logging: what the toolkit says while it works, how much of it, and the libraries' noise kept out of the way.

Every module logs through `get_logger(__name__)`, a child of the `sftbench` logger. Messages are single lines
on stdout (as a command's progress reads: "[ ok ] mushroom.base.score: ..."); `error: ...` lines for bad
input go to stderr (sftbench_common/errors.py). `sftbench --quiet` keeps warnings only, `--verbose` adds
debug lines and lets the libraries (transformers, datasets, Python warnings) speak as they would by default.

Under several processes (accelerate launch, torchrun) only the main process logs below WARNING, as
accelerate's `get_logger(main_process_only=True)` does, without needing its state set up first.

Progress bars (tqdm: training, scoring, conversion) show on a terminal and are off when stderr is not one,
so CI logs do not fill with carriage-return bars: tqdm reads TQDM_DISABLE when it is first imported, which
`setup_logging` sets before any library loads. A command's settings last as long as the command
(`command_logging`); a worker process's (setup_logging) as long as the process.
"""

from __future__ import annotations

import contextlib
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


def library_settings(verbosity: int) -> dict[str, str]:
    """The environment the libraries read when they load, for this verbosity: progress bars off when stderr is
    not a terminal (or --quiet), their own info and advisory warnings off below --verbose."""
    settings = {}
    if not sys.stderr.isatty() or verbosity == QUIET:
        settings.update(TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if verbosity < VERBOSE:
        settings.update(
            TRANSFORMERS_VERBOSITY="error", DATASETS_VERBOSITY="error", TRANSFORMERS_NO_ADVISORY_WARNINGS="1"
        )
    return settings


def setup_logging(verbosity: int = NORMAL) -> None:
    """Set, for the rest of this process, how much the toolkit and the libraries under it say: for a process
    that does one thing (a Ray or SLURM worker, a script); call before the libraries are imported. A command
    uses `command_logging`, which puts everything back when it ends."""
    level = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}[verbosity]
    _root().setLevel(level if processes.is_main_process() else max(level, logging.WARNING))
    for name, value in library_settings(verbosity).items():
        os.environ.setdefault(name, value)  # what the user set wins
    if verbosity < VERBOSE:
        for category in (UserWarning, FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
    # On a CPU with AVX-512 BF16, importing bitsandbytes (peft does) warns through Python logging that it could
    # not fetch an optional 4-bit kernel from the Hub, then uses its own: a line of noise on every command.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR if verbosity < VERBOSE else logging.NOTSET)


@contextlib.contextmanager
def command_logging(verbosity: int = NORMAL):
    """setup_logging for the length of one command: the log levels, the warning filters (warnings.catch_warnings)
    and the libraries' settings in the environment are what they were before once the command returns, so a
    later command in the same process (a notebook, the tests) starts as a new process would."""
    loggers = [_root(), logging.getLogger("bitsandbytes")]
    levels = [logger.level for logger in loggers]
    saved = {name: os.environ.get(name) for name in library_settings(verbosity)}
    with warnings.catch_warnings():
        setup_logging(verbosity)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
