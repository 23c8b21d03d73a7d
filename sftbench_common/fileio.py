"""Atomic file writes and validated JSONL reading.

Every file sftbench writes goes to a temporary name in the same folder and is renamed into place,
so an interrupted run or a full disk never leaves a half-written file where a finished one was.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sftbench_common.errors import NO_ROOM, UserError, located


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.errno in NO_ROOM:
            raise UserError(
                f"{path}: could not be written ({NO_ROOM[err.errno]}); the previous version is kept"
            ) from err
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one line (logs): a torn last line from a crash is skipped by `read_jsonl(..., tolerant=True)`."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(f"{located(path, line)}: not valid UTF-8 (byte {err.start}); save the file as UTF-8") from None


def iter_jsonl(path: str | Path, tolerant: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-empty line; a broken line is a UserError unless tolerant."""
    # Split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 etc., which JSON strings may hold raw.
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            if tolerant:
                continue
            raise UserError(f"{located(path, number)}: broken JSON line ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            if tolerant:
                continue
            raise UserError(f"{located(path, number)}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def read_jsonl(path: str | Path, tolerant: bool = False) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path, tolerant=tolerant)]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short_hash(text: str) -> str:
    """16 hex digits of the text's sha256: the names runs and rows record of their inputs."""
    return sha256_bytes(text.encode())[:16]


def content_hash(obj) -> str:
    """short_hash of a JSON value (keys sorted): equal values, equal hashes, on every machine."""
    return short_hash(json.dumps(obj, sort_keys=True))
