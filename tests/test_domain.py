"""Domain-text fine-tuning: corpus cleaning and split, perplexity, training on blocks, bench rows, the API client."""
import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bench.api_client import complete
from bench.domain import block_nll, perplexity_metrics
from prompts.build import build_task, load_split
from prompts.domain import blocks, clean_text, shared_between, split_documents, Document
from prompts.tasks import get_task
from sft.errors import UserError
from tests.conftest import run_module

RST = """\
.. _writing-views:

=============
Writing views
=============

A view is a :class:`~django.http.HttpResponse` factory; see :doc:`the URL guide
</topics/http/urls>` and ``views.py``. Read `the forum`_ or Gunicorn_ docs.

.. toctree::
   :maxdepth: 2

   intro
   tutorial

.. note::

    Views live anywhere on your Python path.

Example::

    def current_datetime(request):
        return HttpResponse("now")

.. versionadded:: 5.0

.. _the forum: https://forum.djangoproject.com/
"""


def test_clean_text_removes_markup_and_keeps_prose_and_code():
    text = clean_text(RST)
    assert text.splitlines()[0] == "Writing views"
    assert "A view is a django.http.HttpResponse factory; see the URL guide and views.py." in " ".join(text.split())
    assert "Read the forum or Gunicorn docs." in text
    assert "Views live anywhere on your Python path." in text
    assert "Example:\n\n    def current_datetime(request):" in text
    for noise in (".. ", ":class:", "``", "`", "=====", "maxdepth", "tutorial", "versionadded", "https://"):
        assert noise not in text, noise


def write_manual(folder, documents=24, seed=0):
    """A small synthetic manual: each page documents a few settings in the same house style."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    boilerplate = "This page is part of the Frobnicator manual. Report mistakes to the documentation team."
    for page in range(documents):
        lines = [f"Frobnicator module {page}", "=" * 20, "", boilerplate, ""]
        for _ in range(12):
            name, value = f"FROB_{rng.choice('ABCDEFGH')}{rng.randint(0, 99)}", rng.choice(["True", "False", "None"])
            lines += [f"The setting ``{name}`` controls the widget cache of module {page}. Its default is "
                      f"``{value}``; set it to ``{value}`` in settings.py to keep the default behaviour.", ""]
        (folder / f"page{page:02d}.{'rst' if page % 2 else 'md'}").write_text("\n".join(lines))
    return folder


def test_user_folder_split_shares_no_documents_or_paragraphs(isolated_outputs):
    meta = build_task(get_task(f"domain:{write_manual(isolated_outputs / 'manual')}"))
    assert meta["kind"] == "domain" and meta["total"] == 24
    assert meta["paragraphs_dropped"] == 23  # the boilerplate paragraph, kept once
    splits = {name: [Document(r["id"], r["text"]) for r in load_split("manual", name)] for name in ("train", "val", "test")}
    assert {name: len(docs) for name, docs in splits.items()} == {"train": 21, "val": 1, "test": 2}  # round(24 x 10%)
    assert shared_between(splits) == {"documents": [], "paragraphs": []}
    again = split_documents([d for docs in splits.values() for d in docs], seed=42)
    assert {n: [d.id for d in docs] for n, docs in again.items()} == {n: [d.id for d in docs] for n, docs in splits.items()}


def test_django_docs_corpus_offline(isolated_outputs):
    meta = build_task(get_task("django-docs"))
    assert meta["source_sha256"] == "ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1"
    assert sum(c["lines"] for c in meta["counts"].values()) > 10_000
    assert 0.08 < meta["counts"]["test"]["documents"] / meta["total"] < 0.12
    splits = {name: [Document(r["id"], r["text"]) for r in load_split("django-docs", name)]
              for name in ("train", "val", "test")}
    assert shared_between(splits) == {"documents": [], "paragraphs": []}
    directive = re.compile(r"^\s*\.\. [\w-]+::", re.MULTILINE)  # prose *about* directives may stay
    assert not any(":class:`" in d.text or directive.search(d.text) for docs in splits.values() for d in docs
                   if "/contributing/" not in d.id)  # the pages on writing Django's docs quote reST on purpose


def test_bad_domain_inputs(isolated_outputs):
    empty = isolated_outputs / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no .txt/.rst/.md files"):
        build_task(get_task(f"domain:{empty}"))
    corpus = isolated_outputs / "corpus.jsonl"
    corpus.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    with pytest.raises(UserError, match=r"corpus.jsonl:2: field 'text'"):
        build_task(get_task(f"domain:{corpus}"))


def test_perplexity_equals_a_direct_computation():
    import torch

    from bench.generative import load_for_inference

    model, tokenizer = load_for_inference("smollm2-135m-instruct", dtype=torch.float32)
    texts = [clean_text(RST), "Django is a high-level Python web framework that encourages rapid development."] * 3
    block_ids = blocks(texts, tokenizer, 24, limit=5)
    assert len(block_ids) == 5 and all(len(b) == 24 for b in block_ids)
    total_nll, tokens = block_nll(model, block_ids, batch_size=2, progress=False)
    direct_nll = 0.0
    with torch.inference_mode():
        for ids in block_ids:  # transformers' own shifted mean loss, times the tokens it averaged over
            input_ids = torch.tensor([ids])
            direct_nll += model(input_ids=input_ids, labels=input_ids).loss.item() * (len(ids) - 1)
    assert tokens == 5 * 23
    assert total_nll == pytest.approx(direct_nll, rel=1e-4)
    assert perplexity_metrics(total_nll, tokens)["perplexity"] == pytest.approx(
        torch.exp(torch.tensor(direct_nll / tokens)).item(), rel=1e-4)


class FakeCompletions(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/completions endpoint that records what it was sent."""
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeCompletions.requests.append({"path": self.path, "body": body})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            return
        reply = json.dumps({"choices": [{"text": " The setting controls the widget cache."}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server():
    server = HTTPServer(("127.0.0.1", 0), FakeCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeCompletions.requests = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_api_client_against_a_local_server(api_server):
    assert complete(api_server, "tiny", "Django is", 8) == " The setting controls the widget cache."
    assert FakeCompletions.requests == [{"path": "/v1/completions", "body": {
        "model": "tiny", "prompt": "Django is", "max_tokens": 8, "temperature": 0}}]
    with pytest.raises(UserError, match="HTTP 500"):
        complete(api_server, "broken", "x", 8)
    with pytest.raises(UserError, match="unreachable"):
        complete("http://127.0.0.1:9/v1", "tiny", "x", 8, timeout_s=5)


@pytest.mark.slow
def test_domain_lora_lowers_test_perplexity_and_reports_it(isolated_outputs, api_server):
    manual = write_manual(isolated_outputs / "manual", documents=30)
    experiment = isolated_outputs / "domain.yaml"
    experiment.write_text(
        f"name: tiny-domain\ntasks: ['domain:{manual}']\nbench_limit: 6\nruns:\n"
        "  - {model: smollm2-135m-instruct, method: lora, overrides: {max_length: 64, train_limit: 48, eval_limit: 4,"
        " batch_size: 8, epochs: 2, lr: 1.0e-3, logging_steps: 2, save_steps: 100, lora_dropout: 0.0}}\n")
    trained = run_module("sft.experiment", "--experiment", str(experiment))
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_dir = isolated_outputs / "results" / "runs" / "manual" / "smollm2-135m-instruct-lora"
    losses = [r["loss"] for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses[-1] < 0.7 * losses[0], losses
    benched = run_module("bench.run", "--experiment", str(experiment), "--prompts", "3", "--api-base", api_server,
                         "--api-model", "tiny")
    assert benched.returncode == 0, benched.stderr[-3000:]
    rows = {p.stem: json.loads(p.read_text()) for p in (isolated_outputs / "results" / "manual" / "rows").glob("*.json")}
    assert set(rows) == {"smollm2-135m-instruct.base.lm", "smollm2-135m-instruct-lora.lm", "api.tiny"}
    base, tuned = rows["smollm2-135m-instruct.base.lm"], rows["smollm2-135m-instruct-lora.lm"]
    assert base["metrics"]["tokens"] == tuned["metrics"]["tokens"] == 6 * 63  # the same blocks for both
    assert tuned["metrics"]["perplexity"] < 0.7 * base["metrics"]["perplexity"]
    assert rows["api.tiny"]["metrics"]["perplexity"] is None and len(FakeCompletions.requests) == 3
    assert len(rows["api.tiny"]["samples"]) == 3 and rows["api.tiny"]["metrics"]["chrf"] > 0
    report = (isolated_outputs / "results" / "results.md").read_text()
    assert "## manual (domain text)" in report and "api:tiny" in report
    assert (isolated_outputs / "results" / "domain.csv").read_text().count("\n") == 4
