"""A user's own CSV or JSONL file as a classification task: `csv:PATH` / `jsonl:PATH`.

A label column plus one text column, or several feature columns rendered as "Column: value.". Every
problem is a UserError that names the file, the line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError, located
from common.fileio import iter_jsonl, read_text, sha256_bytes
from prompts.examples import Example, Task


@dataclass
class FileTaskOptions:
    label_column: str = "label"
    text_column: str | None = None  # one free-text column ...
    feature_columns: list[str] | None = None  # ... or several columns rendered as "Column: value."
    id_column: str | None = None
    labels: list[str] | None = None  # the declared label set; default: the labels found, sorted
    question: str = "Classify the following input."
    name: str | None = None


def _file_rows(kind: str, path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs; CSV line numbers count the header as line 1."""
    if kind == "jsonl":
        return list(iter_jsonl(path))
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise UserError(f"{located(path, 1)}: empty CSV file, expected a header line")
    rows = []
    try:
        for row in reader:
            if None in row:
                raise UserError(f"{located(path, reader.line_num)}: more values than the header has columns")
            rows.append((reader.line_num, row))
    except csv.Error as err:
        raise UserError(f"{located(path, reader.line_num)}: malformed CSV ({err})") from None
    return rows


def _file_loader(kind: str, path: Path, options: FileTaskOptions) -> Callable[[], tuple[list[Example], str]]:
    def load() -> tuple[list[Example], str]:
        rows = _file_rows(kind, path)
        if not rows:
            raise UserError(f"{path}: no rows")
        text_fields = [options.text_column] if options.text_column else list(options.feature_columns or [])
        wanted = [options.label_column, *text_fields] + ([options.id_column] if options.id_column else [])
        examples, seen_ids = [], {}
        for line, row in rows:
            for column in wanted:
                if column not in row:
                    present = ", ".join(sorted(map(str, row))) or "none"
                    raise UserError(f"{located(path, line, column)}: missing (present: {present})")
            label = str(row[options.label_column] if row[options.label_column] is not None else "").strip()
            if not label:
                raise UserError(f"{located(path, line, options.label_column)}: empty label")
            if options.labels is not None and label not in options.labels:
                raise UserError(
                    f"{located(path, line, options.label_column)}: label '{label}' is not one of {options.labels}"
                )
            if options.text_column:
                text = str(row[options.text_column] or "").strip()
                if not text:
                    raise UserError(f"{located(path, line, options.text_column)}: empty text")
            else:
                text = " ".join(
                    f"{column.replace('_', ' ').capitalize()}: {str(row[column]).strip()}." for column in text_fields
                )
            example_id = str(row[options.id_column]) if options.id_column else f"{path.stem}-{line:06d}"
            if example_id in seen_ids:
                raise UserError(
                    f"{located(path, line, options.id_column)}: duplicate id '{example_id}' "
                    f"(first on line {seen_ids[example_id]})"
                )
            seen_ids[example_id] = line
            features = None if options.text_column else {column: str(row[column]).strip() for column in text_fields}
            examples.append(Example(example_id, text, label, features))
        return examples, sha256_bytes(path.read_bytes())

    return load


def file_task(spec: str, options: dict) -> Task:
    kind, _, raw_path = spec.partition(":")
    unknown = set(options) - set(FileTaskOptions.__dataclass_fields__)
    if unknown:
        raise UserError(
            f"task '{spec}': unknown option(s) {sorted(unknown)}; valid: {sorted(FileTaskOptions.__dataclass_fields__)}"
        )
    opts = FileTaskOptions(**options)
    if isinstance(opts.feature_columns, str):
        opts.feature_columns = [c.strip() for c in opts.feature_columns.split(",") if c.strip()]
    if isinstance(opts.labels, str):
        opts.labels = [c.strip() for c in opts.labels.split(",") if c.strip()]
    if bool(opts.text_column) == bool(opts.feature_columns):
        raise UserError(f"task '{spec}': give exactly one of text_column or feature_columns")
    path = Path(raw_path).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    loader = _file_loader(kind, path, opts)
    labels = tuple(opts.labels) if opts.labels else None
    if labels is None:  # declared by the data: load once to find them
        examples, _ = loader()
        labels = tuple(sorted({e.label for e in examples}))
    return Task(opts.name or path.stem, labels, opts.question, f"{kind} file {path}", loader, dataclasses.asdict(opts))
