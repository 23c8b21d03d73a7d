"""Domain-text corpora: markup cleaning, the document split, the offline Django corpus, bad inputs."""

import re

import pytest

from prompts.build import build_task, load_split
from prompts.domain import Document, clean_text, shared_between, split_documents
from prompts.tasks import get_task
from sftbench_common.errors import UserError
from tests.helpers import RST, write_manual


def test_clean_text_removes_markup_and_keeps_prose_and_code():
    text = clean_text(RST)
    assert text.splitlines()[0] == "Writing views"
    assert "A view is a django.http.HttpResponse factory; see the URL guide and views.py." in " ".join(text.split())
    assert "Read the forum or Gunicorn docs." in text
    assert "Views live anywhere on your Python path." in text
    assert "Example:\n\n    def current_datetime(request):" in text
    for noise in (".. ", ":class:", "``", "`", "=====", "maxdepth", "tutorial", "versionadded", "https://"):
        assert noise not in text, noise


def test_user_folder_split_shares_no_documents_or_paragraphs(isolated_outputs):
    meta = build_task(get_task(f"domain:{write_manual(isolated_outputs / 'manual')}"))
    assert meta["kind"] == "domain" and meta["total"] == 24
    assert meta["paragraphs_dropped"] == 23  # the boilerplate paragraph, kept once
    splits = {
        name: [Document(r["id"], r["text"]) for r in load_split("manual", name)] for name in ("train", "val", "test")
    }
    assert {name: len(docs) for name, docs in splits.items()} == {"train": 21, "val": 1, "test": 2}  # round(24 x 10%)
    assert shared_between(splits) == {"documents": [], "paragraphs": []}
    again = split_documents([d for docs in splits.values() for d in docs], seed=42)
    assert {n: [d.id for d in docs] for n, docs in again.items()} == {
        n: [d.id for d in docs] for n, docs in splits.items()
    }


def test_django_docs_corpus_offline(isolated_outputs):
    meta = build_task(get_task("django-docs"))
    assert meta["source_sha256"] == "ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1"
    assert sum(c["lines"] for c in meta["counts"].values()) > 10_000
    assert 0.08 < meta["counts"]["test"]["documents"] / meta["total"] < 0.12
    splits = {
        name: [Document(r["id"], r["text"]) for r in load_split("django-docs", name)]
        for name in ("train", "val", "test")
    }
    assert shared_between(splits) == {"documents": [], "paragraphs": []}
    directive = re.compile(r"^\s*\.\. [\w-]+::", re.MULTILINE)  # prose *about* directives may stay
    assert not any(
        ":class:`" in d.text or directive.search(d.text)
        for docs in splits.values()
        for d in docs
        if "/contributing/" not in d.id
    )  # the pages on writing Django's docs quote reST on purpose


def test_bad_domain_inputs(isolated_outputs):
    empty = isolated_outputs / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no .txt/.rst/.md files"):
        build_task(get_task(f"domain:{empty}"))
    corpus = isolated_outputs / "corpus.jsonl"
    corpus.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    with pytest.raises(UserError, match=r"corpus.jsonl:2: field 'text'"):
        build_task(get_task(f"domain:{corpus}"))
