"""The model registry: packaged offline weights, the safetensors cache, and the offline error."""

import time

import pytest
from transformers import AutoModelForSequenceClassification

from sft.models import load_causal_lm, load_tokenizer, model_slug, resolve_model
from sftbench_common.errors import UserError
from tests.helpers import run_sftbench


def test_packaged_models_load_offline_and_second_time_from_cache():
    load_causal_lm(resolve_model("smollm2-135m-instruct"))  # converts the GGUF once if not cached yet
    started = time.time()
    model = resolve_model("smollm2-135m-instruct")
    lm = load_causal_lm(model)
    tokenizer = load_tokenizer(model)
    assert time.time() - started < 5
    assert model.kind == "causal" and (model.path / "model.safetensors").is_file()
    assert not hasattr(lm.config, "quantization_config") and getattr(lm, "hf_quantizer", None) is None
    assert tokenizer.chat_template and tokenizer.pad_token != tokenizer.eos_token


def test_packaged_encoder():
    model = resolve_model("minilm-l6")
    assert model.kind == "encoder"
    classifier = AutoModelForSequenceClassification.from_pretrained(model.path, num_labels=2)
    assert classifier.config.num_labels == 2


def test_unknown_model_offline_is_one_clear_error():
    with pytest.raises(UserError, match=r"model 'gpt2' is not packaged .* not in the Hugging Face cache"):
        resolve_model("gpt2")
    done = run_sftbench("train", "model=no-such/model-xyz", "--print-config")
    assert done.returncode == 0  # printing the config needs no model
    done = run_sftbench("train", "model=no-such/model-xyz", "train_limit=4", "eval_limit=2")
    assert done.returncode == 2
    assert done.stderr.startswith("error: model 'no-such/model-xyz' is not packaged")
    assert "Traceback" not in done.stderr


def test_local_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(UserError, match="safetensors only"):
        resolve_model(str(tmp_path))


def test_model_slug():
    assert model_slug("TinyLlama/TinyLlama-1.1B-Chat-v1.0") == "TinyLlama-1.1B-Chat-v1.0"
    assert model_slug("gpt2") == "gpt2"
