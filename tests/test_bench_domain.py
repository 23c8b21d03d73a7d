"""Domain-text benchmark: perplexity against transformers' own loss, the API client, a LoRA run end to end."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from bench.api_client import complete
from bench.domain import block_nll, perplexity_metrics
from bench.generative import load_for_inference
from prompts.domain import blocks, clean_text
from sftbench_common.errors import UserError
from tests.helpers import RST, run_sftbench, write_manual


def test_perplexity_equals_a_direct_computation():
    model, tokenizer = load_for_inference("smollm2-135m-instruct", dtype=torch.float32)
    texts = [clean_text(RST), "Django is a high-level Python web framework that encourages rapid development."] * 3
    block_ids = blocks(texts, tokenizer, 24, limit=5)
    assert len(block_ids) == 5 and all(len(b) == 24 for b in block_ids)
    per_block = block_nll(model, block_ids, batch_size=2, progress=False)
    total_nll, tokens = sum(per_block), perplexity_metrics(per_block, 24)["tokens"]
    direct_nll = 0.0
    with torch.inference_mode():
        for ids in block_ids:  # transformers' own shifted mean loss, times the tokens it averaged over
            input_ids = torch.tensor([ids])
            direct_nll += model(input_ids=input_ids, labels=input_ids).loss.item() * (len(ids) - 1)
    assert tokens == 5 * 23
    assert total_nll == pytest.approx(direct_nll, rel=1e-4)
    assert len(per_block) == 5
    assert perplexity_metrics(per_block, 24)["perplexity"] == pytest.approx(
        torch.exp(torch.tensor(direct_nll / tokens)).item(), rel=1e-4
    )


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
    assert FakeCompletions.requests == [
        {"path": "/v1/completions", "body": {"model": "tiny", "prompt": "Django is", "max_tokens": 8, "temperature": 0}}
    ]
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
        " batch_size: 8, epochs: 2, lr: 1.0e-3, logging_steps: 2, save_steps: 100, lora_dropout: 0.0}}\n"
    )
    trained = run_sftbench("train-all", "--experiment", str(experiment))
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_dir = isolated_outputs / "results" / "runs" / "manual" / "smollm2-135m-instruct-lora"
    losses = [r["loss"] for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses[-1] < 0.7 * losses[0], losses
    benched = run_sftbench(
        "bench", "--experiment", str(experiment), "--prompts", "3", "--api-base", api_server, "--api-model", "tiny"
    )
    assert benched.returncode == 0, benched.stderr[-3000:]
    rows = {
        p.stem: json.loads(p.read_text()) for p in (isolated_outputs / "results" / "manual" / "rows").glob("*.json")
    }
    assert set(rows) == {"smollm2-135m-instruct.base.lm", "smollm2-135m-instruct-lora.lm", "api.tiny"}
    base, tuned = rows["smollm2-135m-instruct.base.lm"], rows["smollm2-135m-instruct-lora.lm"]
    assert base["metrics"]["tokens"] == tuned["metrics"]["tokens"] == 6 * 63  # the same blocks for both
    assert tuned["metrics"]["perplexity"] < 0.7 * base["metrics"]["perplexity"]
    assert rows["api.tiny"]["metrics"]["perplexity"] is None and len(FakeCompletions.requests) == 3
    assert len(rows["api.tiny"]["samples"]) == 3 and rows["api.tiny"]["metrics"]["chrf"] > 0
    report = (isolated_outputs / "results" / "results.md").read_text()
    assert "## manual (domain text)" in report and "api:tiny" in report
    assert (isolated_outputs / "results" / "domain.csv").read_text().count("\n") == 4
