"""The frozen trunk computed once (sft/trunk.py): training from cached trunk outputs is the same training, the
benchmark's replay of the base model's trunk pass gives the same scores, a change to anything that shapes the
trunk's output misses the cache, and the cache's limits and failures never fail a run."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sft.config import build_config
from sft.train import build_trainer, train
from sft.trunk import TrunkStore, TrunkTape, adapter_boundary, cache_summary, model_key, row_key
from tests.helpers import QUICK_LORA, mushroom_records

RUN = {
    "task": "mushroom",
    "model": "smollm2-135m-instruct",
    "method": "lora",
    "train_limit": 16,
    "eval_limit": 8,
    "batch_size": 8,
    "epochs": 3,
    "lr": 1e-3,
    "precision": "fp32",
    "logging_steps": 1,
    "eval_steps": None,
    "save_steps": 100,
    "report_to": "none",
    **{key: int(value) for key, value in (item.split("=") for item in QUICK_LORA)},
}


@pytest.fixture()
def cache_folder(isolated_outputs):
    """The test's own trunk cache (conftest.py points every test at one)."""
    from sft import trunk

    return trunk.trunk_folder()


@pytest.mark.slow
def test_a_cached_run_trains_as_the_uncached_one(tmp_path, cache_folder):
    """Three epochs of 2 steps: the second and third run the top layers from the cache. Every logged loss and
    gradient norm and the final adapter weights equal the uncached run's (fp32: within 1e-5 relative)."""
    runs = {}
    for cached in (False, True):
        # max_length 256: no record is shortened, so each of the 16 + 8 records is a sequence of its own
        values = RUN | {"trunk_cache": cached, "max_length": 256, "output_dir": str(tmp_path / f"run-{cached}")}
        config = build_config((values, "test"))
        run_dir = train(config)
        log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
        runs[cached] = (log, load_file(run_dir / "adapter" / "adapter_model.safetensors"))
    (plain_log, plain_weights), (cached_log, cached_weights) = runs[False], runs[True]
    for key in ("loss", "grad_norm", "eval_loss", "eval_label_accuracy"):  # the val scoring replays from epoch 2
        plain = [r[key] for r in plain_log if key in r]
        assert plain and plain == pytest.approx([r[key] for r in cached_log if key in r], rel=1e-5), key
    assert set(plain_weights) == set(cached_weights)
    for name, weight in plain_weights.items():
        assert torch.allclose(weight, cached_weights[name], rtol=1e-5, atol=1e-7), name
    summary = cache_summary(cache_folder)
    assert sum(m["rows"] for m in summary.values()) == 16 + 8  # each train and val record computed once, kept


@pytest.mark.slow
def test_lora_gradients_from_the_cache_equal_the_whole_forward(tmp_path, cache_folder):
    config = build_config((RUN | {"output_dir": str(tmp_path / "run")}, "test"))
    from sft.models import resolve_model

    trainer = build_trainer(config, resolve_model(config.model), tmp_path / "run")
    assert trainer.trunk.boundary == 28  # lora_layers=2 of SmolLM2's 30
    batch = next(iter(trainer.get_train_dataloader()))
    grads = []
    for _ in range(2):  # the first pass computes and keeps the trunk's output, the second reads it
        torch.manual_seed(0)  # the same LoRA dropout masks in both passes
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grads.append((float(loss), {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}))
    assert trainer.trunk.store.hits == 8 and trainer.trunk.store.misses == 8
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    for name, grad in grads[0][1].items():
        assert torch.allclose(grad, grads[1][1][name], rtol=1e-5, atol=1e-8), name


def test_every_part_of_the_key_misses_when_it_changes(tmp_path):
    """Weights, precision, attention, boundary, quantization and the tokens (template, max_length and shortening
    all change the tokens) each give another key."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights-1")
    parts = dict(boundary=22, dtype=torch.bfloat16, attention="eager", device="cpu", quantized=False)
    key = model_key(folder, **parts)
    assert model_key(folder, **parts) == key
    for change in ({"boundary": 20}, {"dtype": torch.float32}, {"attention": "sdpa"}, {"quantized": True}):
        assert model_key(folder, **(parts | change)) != key, change
    (folder / "model.safetensors").write_bytes(b"weights-2")  # another model file: another key
    assert model_key(folder, **parts) != key
    assert row_key(key, [1, 2, 3]) != row_key(key, [1, 2, 3, 4]) and row_key(key, [5]) == row_key(key, [5])


def test_the_shortened_input_of_a_shorter_max_length_is_another_row():
    from prompts.format import input_token_budget, prompt_completion, shorten_input
    from sft.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model("smollm2-135m-instruct"))
    record = mushroom_records(1, "train")[0]
    ids = []
    for max_length in (256, 96):
        budget = input_token_budget(tokenizer, record["instruction"], ["edible", "poisonous"], max_length)
        pair = prompt_completion(shorten_input(record, tokenizer, budget), tokenizer)
        ids.append(tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], return_dict=True)["input_ids"])
    assert ids[0] != ids[1] and row_key("m", ids[0]) != row_key("m", ids[1])


def test_limits_and_a_failing_disk_never_fail_and_say_so_once(tmp_path, caplog):
    states = torch.ones(100, 8)  # 3,200 bytes
    store = TrunkStore(tmp_path / "full", memory_bytes=7000, disk_bytes=5000)
    store.put("m/" + "a" * 64, states)
    store.put("m/" + "b" * 64, states)  # past the disk limit: kept in memory only, counted
    assert store.not_kept == 1 and len(list((tmp_path / "full").rglob("*.safetensors"))) == 1
    store.put("m/" + "c" * 64, states)  # past the memory limit: the least recently used goes
    assert "m/" + "a" * 64 not in store.memory and store.get("m/" + "a" * 64) is not None  # read back from disk
    broken = tmp_path / "broken"
    broken.write_text("a file where the folder should be")
    failing = TrunkStore(broken / "trunk")
    failing.put("m/" + "d" * 64, states)
    failing.put("m/" + "e" * 64, states)
    assert failing.get("m/" + "e" * 64) is not None  # still served from memory
    warnings = [r for r in caplog.records if "trunk cache: not writing" in r.getMessage()]
    assert len(warnings) == 1 and not failing.writing


def test_bench_replay_of_the_base_models_trunk_equals_scoring_the_whole_model(lora_run, smollm2):
    """The merged fine-tuned model scored whole, and through its top layers from the base model's recorded pass:
    the same scores (1e-4) and the same predictions. A recording that also generates (the base row measured in
    both modes) keeps the scoring calls alone; a replay's generate answers equal the whole model's."""
    from bench.generative import generate_answers, load_for_inference
    from sft.label_scoring import score_and_answer, score_labels

    _, run_dir = lora_run
    boundary = adapter_boundary(run_dir)
    assert boundary == 26  # lora_layers=4 of 30
    base, tokenizer = smollm2
    tuned, _ = load_for_inference("smollm2-135m-instruct", run_dir)
    records, labels = mushroom_records(20), ["edible", "poisonous"]
    tape = TrunkTape(boundary)
    with tape.recording(base, trunk_only=True):
        score_labels(base, tokenizer, records, labels, batch_size=8, progress=False)
    whole = score_labels(tuned, tokenizer, records, labels, batch_size=8, progress=False)
    replayed = score_labels(tape.replaying(tuned), tokenizer, records, labels, batch_size=8, progress=False)
    for a, b in zip(whole, replayed):
        assert a == pytest.approx(b, abs=1e-4)
        assert max(a, key=a.get) == max(b, key=b.get)
    with pytest.raises(RuntimeError, match="differs from the recorded one"):  # another pass cannot use this tape
        score_labels(tape.replaying(tuned), tokenizer, records[:5], labels, batch_size=8, progress=False)

    answering = TrunkTape(boundary)
    base_scores, base_answers, _, _ = score_and_answer(
        answering.recorder(base), tokenizer, records, labels, 8, False, (), 6
    )
    assert len(answering.states) == len(tape.states)  # 1 prefix + 3 batches x (prompts, label tokens)
    assert all(torch.equal(a, b) for a, b in zip(answering.states, tape.states))
    assert base_answers == generate_answers(base, tokenizer, records, labels, batch_size=8, max_new_tokens=6)
    scores, answers, _, _ = score_and_answer(answering.replaying(tuned), tokenizer, records, labels, 8, False, (), 6)
    assert scores == replayed
    assert answers == generate_answers(tuned, tokenizer, records, labels, batch_size=8, max_new_tokens=6)


def test_the_cache_folder_is_under_the_cache_dir(monkeypatch, tmp_path):
    from sft import trunk

    monkeypatch.undo()  # conftest's test folder off: the real function
    monkeypatch.setenv("SFTBENCH_CACHE", str(tmp_path))
    assert trunk.trunk_folder() == Path(tmp_path) / "trunk"
