"""A user's own CSV or JSONL file as a classification task: `csv:PATH` / `jsonl:PATH`.

A label column plus one text column, or several feature columns rendered as "Column: value.". Every
problem is a UserError that names the file, the line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from prompts.examples import Example, Task, render_features
from sftbench_common.errors import UserError, located
from sftbench_common.fileio import iter_jsonl, read_text, sha256_bytes
from sftbench_common.paths import shown_path


@dataclass
class FileTaskOptions:
    label_column: str = "label"
    text_column: str | None = None  # one free-text column ...
    feature_columns: list[str] | None = None  # ... or several columns rendered as "Column: value."
    id_column: str | None = None
    labels: list[str] | None = None  # the declared label set; default: the labels found, sorted
    question: str = "Classify the following input."
    name: str | None = None
    test_file: str | None = None  # your own held-out files, same columns: kept as the test (and val) split
    val_file: str | None = None


DELIMITERS = ",;\t|"
# Long documents (contracts, papers, long reviews) are ordinary; the prompt shortens the input anyway.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _csv_dialect(path: Path, text: str):
    """The file's delimiter: a comma unless the header line holds none and csv.Sniffer finds ; tab or |."""
    header = text.split("\n", 1)[0]
    if "," in header or not header.strip():
        return csv.excel
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=DELIMITERS)
    except csv.Error:
        if any(d in header for d in DELIMITERS[1:]):
            raise UserError(
                f"{located(path, 1)}: the header has one column ({header.strip()[:60]!r}) and no delimiter could "
                f"be detected (tried comma, semicolon, tab and |)"
            ) from None
        return csv.excel


def _file_rows(kind: str, path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs; CSV line numbers count the header as line 1."""
    if kind == "jsonl":
        return list(iter_jsonl(path))
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=_csv_dialect(path, text))
    if not reader.fieldnames:
        raise UserError(f"{located(path, 1)}: empty CSV file, expected a header line")
    repeated = sorted({name for name in reader.fieldnames if reader.fieldnames.count(name) > 1})
    if repeated:
        raise UserError(
            f"{located(path, 1)}: the header names column(s) {', '.join(repr(n) for n in repeated)} more than "
            f"once; rename them so each column has one name"
        )
    rows = []
    try:
        for row in reader:
            if None in row:
                raise UserError(f"{located(path, reader.line_num)}: more values than the header has columns")
            rows.append((reader.line_num, row))
    except csv.Error as err:
        raise UserError(f"{located(path, reader.line_num)}: malformed CSV ({err})") from None
    return rows


def _file_examples(kind: str, path: Path, options: FileTaskOptions, split: str | None) -> list[Example]:
    """One file's rows as examples; every problem names the file, the line and the field."""
    rows = _file_rows(kind, path)
    if not rows:
        raise UserError(f"{path}: no rows")
    text_fields = [options.text_column] if options.text_column else list(options.feature_columns or [])
    wanted = [options.label_column, *text_fields] + ([options.id_column] if options.id_column else [])
    prefix = f"{split}-" if split in ("val", "test") else ""  # a held-out file's ids never clash with train's
    examples, seen_ids = [], {}
    for line, row in rows:
        for column in wanted:
            if column not in row:
                present = ", ".join(sorted(map(str, row))) or "none"
                raise UserError(f"{located(path, line, column)}: missing (present: {present})")
        value = row[options.label_column]
        if not isinstance(value, str | int | float | bool | None):
            raise UserError(
                f"{located(path, line, options.label_column)}: a label must be a string, number or boolean; "
                f"got {type(value).__name__} {json.dumps(value)[:60]}"
            )
        label = str(value if value is not None else "").strip()
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
            text = render_features(row, text_fields)
        example_id = prefix + (str(row[options.id_column]) if options.id_column else f"{path.stem}-{line:06d}")
        if example_id in seen_ids:
            raise UserError(
                f"{located(path, line, options.id_column)}: duplicate id '{example_id}' "
                f"(first on line {seen_ids[example_id]})"
            )
        seen_ids[example_id] = line
        features = None if options.text_column else {column: str(row[column]).strip() for column in text_fields}
        examples.append(Example(example_id, text, label, features, split))
    return examples


def _file_loader(kind: str, files: list[tuple[Path, str | None]], options: FileTaskOptions):
    """Examples of the train file and the user's held-out files (each tagged with its split), and a checksum."""

    def load() -> tuple[list[Example], str]:
        examples = [e for path, split in files for e in _file_examples(kind, path, options, split)]
        if len(files) == 1:
            return examples, sha256_bytes(files[0][0].read_bytes())
        return examples, sha256_bytes(b"\0".join(path.read_bytes() for path, _ in files))

    return load


def _existing(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give one CSV or JSONL file (csv:PATH/file.csv)")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return path


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
    if opts.val_file and not opts.test_file:
        raise UserError(f"task '{spec}': val_file needs a test_file (without one, val and test are cut from the file)")
    path = _existing(raw_path)
    files = [(path, "train" if opts.test_file else None)]
    files += [(_existing(name), split) for name, split in ((opts.test_file, "test"), (opts.val_file, "val")) if name]
    loader = _file_loader(kind, files, opts)
    labels = tuple(opts.labels) if opts.labels else None
    if labels is None:  # declared by the data: load once to find them
        examples, _ = loader()
        labels = tuple(sorted({e.label for e in examples}))
    test_origin = f"your test file {shown_path(files[1][0])}" if opts.test_file else None
    return Task(
        opts.name or path.stem,
        labels,
        opts.question,
        f"{kind} file {path}",
        loader,
        dataclasses.asdict(opts),
        test_origin,
        f"{kind} file {shown_path(path)}",
    )
