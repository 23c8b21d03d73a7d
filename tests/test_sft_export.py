"""A finished run taken elsewhere: its model card, a portable adapter, merged/ (LoRA and QLoRA), a Hub push."""

import json
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForCausalLM, AutoTokenizer

from bench.generative import load_for_inference
from bench.report import build_report
from bench.run import BenchOptions, bench_task
from sft.config import build_config
from sft.label_scoring import score_labels
from sft.models import resolve_model
from sft.run_groups import RunGroup
from sft.train import train
from sftbench_common.errors import UserError
from tests.helpers import mushroom_records, run_sftbench

pytestmark = pytest.mark.slow
LABELS = ["edible", "poisonous"]


def val_records(n=8):
    return mushroom_records(n, "val")


def scores_of(model, tokenizer, records):
    return score_labels(model, tokenizer, records, LABELS, batch_size=8, progress=False)


def assert_same_scores(a, b, tolerance=1e-4):
    for x, y in zip(a, b, strict=True):
        for label in LABELS:
            assert x[label] == pytest.approx(y[label], abs=tolerance)


def test_the_model_card_parses_and_gets_the_test_metrics(lora_run):
    config, run_dir = lora_run
    card = ModelCard.load(run_dir / "adapter" / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the Hub id, not the GGUF cache folder
    assert card.data.library_name == "peft" and card.data.pipeline_tag == "text-generation"
    assert {"sftbench", "trl", "sft", "lora", "mushroom"} <= set(card.data.tags)
    assert "`edible`, `poisonous`" in card.text and "<|im_start|>assistant" in card.text
    assert "lr: 0.001" in card.text and "Not benchmarked yet" in card.text
    assert ModelCard.load(run_dir / "merged" / "README.md").data.library_name == "transformers"

    # the benchmark writes the test metrics, with their interval, into the model-index
    bench_task("mushroom", {}, [RunGroup.of(config)], BenchOptions(modes=("score",), limit=16, baselines=False))
    build_report()
    card = ModelCard.load(run_dir / "adapter" / "README.md")
    accuracy = [r for r in card.data.eval_results if r.metric_type == "accuracy"]
    assert len(accuracy) == 1 and accuracy[0].dataset_split == "test" and "n=16, 95% CI" in accuracy[0].metric_name
    recorded = json.loads((run_dir / "test_results.json").read_text())["results"]
    assert accuracy[0].metric_value == pytest.approx(recorded[0]["value"], abs=1e-4)
    assert recorded[0]["base_value"] is not None and recorded[0]["p_vs_base"] is not None  # the base row, paired
    assert "| score | 16 | accuracy |" in card.text and "Not benchmarked yet" not in card.text


def test_the_adapter_loads_by_its_hub_id_on_another_machine(lora_run, tmp_path):
    """adapter_config.json names the base by Hub id; a machine with that id in its Hugging Face cache (here a
    fresh cache holding the base's files) loads the adapter with AutoPeftModelForCausalLM, offline."""
    config, run_dir = lora_run
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    base = resolve_model(config.model).path
    snapshot = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in base.iterdir():
        os.symlink(file, snapshot / file.name)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    script = (
        "import sys, torch\n"
        "from peft import AutoPeftModelForCausalLM\n"
        f"model = AutoPeftModelForCausalLM.from_pretrained({str(run_dir / 'adapter')!r}).merge_and_unload()\n"
        "ids = torch.tensor([[1, 2, 3, 4, 5]])\n"
        f"torch.save(model(input_ids=ids).logits, {str(tmp_path / 'logits.pt')!r})\n"
    )
    result = run_module_script(script, {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    model, _ = load_for_inference(config.model, run_dir)
    with torch.inference_mode():
        expected = model(input_ids=torch.tensor([[1, 2, 3, 4, 5]])).logits
    assert torch.allclose(torch.load(tmp_path / "logits.pt"), expected, atol=1e-4)


def run_module_script(script, env):
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def test_merged_model_loads_and_scores_as_the_run(lora_run):
    config, run_dir = lora_run
    merged = AutoModelForCausalLM.from_pretrained(run_dir / "merged", dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "merged")
    records = val_records()
    run_model, run_tokenizer = load_for_inference(config.model, run_dir)
    assert_same_scores(scores_of(merged.eval(), tokenizer, records), scores_of(run_model, run_tokenizer, records))
    assert oct((run_dir / "merged").stat().st_mode)[-3:] == "755"


def test_qlora_run_merges_into_a_plain_model(isolated_outputs):
    pytest.importorskip("bitsandbytes")
    config = build_config(
        (
            {
                "task": "mushroom",
                "method": "qlora",
                "train_limit": 8,
                "eval_limit": 0,
                "batch_size": 4,
                "max_steps": 2,
                "max_length": 256,
                "lr": 1e-3,
                "merge": True,
                "report_to": "none",
            },
            "test",
        )
    )
    run_dir = train(config)
    assert not (run_dir / "tensorboard").exists()  # report_to=none
    merged = AutoModelForCausalLM.from_pretrained(run_dir / "merged", dtype=torch.float32)
    assert not getattr(merged, "is_quantized", False) and merged.config.to_dict().get("quantization_config") is None
    records = val_records()
    run_model, tokenizer = load_for_inference(config.model, run_dir)
    assert_same_scores(scores_of(merged.eval(), tokenizer, records), scores_of(run_model, tokenizer, records))
    assert ModelCard.load(run_dir / "merged" / "README.md").data.tags[3] == "qlora"


def test_push_to_hub_offline_is_one_clear_error(lora_run, isolated_outputs):
    config, run_dir = lora_run
    offline = run_sftbench("export", str(run_dir), "--push-to-hub", "someone/smollm2-mushroom")
    assert offline.returncode == 2 and "HF_HUB_OFFLINE is set" in offline.stderr
    assert "Traceback" not in offline.stderr
    unreachable = run_sftbench(
        "export",
        str(run_dir),
        "--push-to-hub",
        "someone/smollm2-mushroom",
        env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_x"},
        timeout=120,
        separate_process=True,  # huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT when imported
    )
    assert unreachable.returncode == 2 and "Traceback" not in unreachable.stderr, unreachable.stderr[-2000:]
    assert "push_to_hub someone/smollm2-mushroom:" in unreachable.stderr and "the run is saved" in unreachable.stderr
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    # asked for at training time, offline: refused before any training
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set"):
        train(build_config(({**vars(config), "push_to_hub": True, "hub_model_id": "a/b"}, "test")))


def test_nothing_published_names_the_users_folder(isolated_outputs, tmp_path):
    """A run on the user's own CSV and test file, in a folder whose path names a person and a client: the model
    card, the files a push would upload, results.md/.csv/.tex and the paper never contain that path."""
    folder = tmp_path / "home" / "alice-smith" / "client-acme" / "secret-project"
    folder.mkdir(parents=True)
    words = {"pos": ["great", "lovely", "superb", "fine"], "neg": ["awful", "dull", "poor", "bad"]}
    rows = [f"a {w} review number {i},{label}\n" for label, ws in words.items() for w in ws for i in range(6)]
    (folder / "reviews.csv").write_text("text,label\n" + "".join(rows[::2]))
    (folder / "held_out.csv").write_text("text,label\n" + "".join(rows[1::2]))
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        f"name: t\ntasks: [{{task: 'csv:{folder}/reviews.csv', text_column: text,\n"
        f"         test_file: '{folder}/held_out.csv'}}]\n"
        "bench_limit: 0\nruns:\n  - {model: minilm-l6, method: full, overrides: {epochs: 1, batch_size: 8, "
        "max_length: 32, eval_limit: 4, save_steps: 100}}\n"
    )
    for module, *args in (
        ("train-all", "--experiment", str(experiment)),
        ("bench", "--experiment", str(experiment)),
        ("paper", "--no-pdf"),
    ):
        done = run_sftbench(module, *args)
        assert done.returncode == 0, done.stderr[-3000:]
    results = isolated_outputs / "results"
    run_dir = results / "runs" / "reviews" / "minilm-l6-full"
    dry = run_sftbench("export", str(run_dir), "--push-to-hub", "someone/reviews", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    listed = [line.split()[-1] for line in dry.stdout.splitlines()[1:-1]]
    assert "README.md" in listed and "model.safetensors" in listed and "config.json" in listed
    published = [run_dir / "model" / name for name in listed]
    published += [results / name for name in ("results.md", "results.csv", "results.tex")]
    published += [results / "report" / "report.tex"]
    for path in published:
        assert str(folder) not in path.read_text(errors="ignore"), path
        assert "alice-smith" not in path.read_text(errors="ignore"), path
    card = (run_dir / "model" / "README.md").read_text()
    assert "csv file reviews.csv" in card and "task: csv:reviews.csv" in card and "test_file: held_out.csv" in card
    # The run's own config keeps the real paths, which resuming needs.
    assert f"{folder}/reviews.csv" in (run_dir / "config.yaml").read_text()
    # Anything but weights, config, tokenizer and card stops the push, unless named.
    (run_dir / "model" / "predictions.jsonl").write_text('{"id": 1}\n')
    refused = run_sftbench("export", str(run_dir), "--push-to-hub", "someone/reviews", "--dry-run")
    assert refused.returncode == 2 and "not uploading predictions.jsonl: not weights, config, tokenizer" in (
        refused.stderr
    )
    named = run_sftbench(
        "export", str(run_dir), "--push-to-hub", "someone/reviews", "--dry-run", "--include", "predictions.jsonl"
    )
    assert named.returncode == 0 and "predictions.jsonl" in named.stdout
