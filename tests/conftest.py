import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# run_sftbench runs commands in this process: no progress bars, as a command whose stderr is not a terminal has
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path, monkeypatch):
    """Every test writes data and results under a temporary folder, never into the repo; the folder is the test's
    tmp_path, removed when the test passes (tmp_path_retention_policy in pyproject.toml: a trained run is hundreds
    of MB, and the whole suite's runs kept until the end filled a CI machine's disk)."""
    root = tmp_path / "sftbench"
    root.mkdir()
    monkeypatch.setenv("SFTBENCH_DATA", str(root / "data"))
    monkeypatch.setenv("SFTBENCH_RESULTS", str(root / "results"))
    # the trunk cache too (the model cache stays shared: converting a model takes tens of seconds)
    monkeypatch.setattr("sft.trunk.trunk_folder", lambda: root / "trunk")
    return root


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory):
    """One small finished LoRA run of SmolLM2 on mushroom, shared by the tests that read a run's outputs:
    evaluations every 3 steps (label metrics) choosing the best checkpoint by label accuracy, TensorBoard, the
    merged export. Returns (config, run folder)."""
    # imported here, not at the top: huggingface_hub reads HF_HUB_OFFLINE (set above) when first imported
    from sft.config import build_config
    from sft.train import train

    root = tmp_path_factory.mktemp("lora_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SFTBENCH_DATA", str(root / "data"))
        patch.setenv("SFTBENCH_RESULTS", str(root / "results"))
        config = build_config(
            (
                {
                    "task": "mushroom",
                    "model": "smollm2-135m-instruct",
                    "method": "lora",
                    "train_limit": 48,
                    "eval_limit": 16,
                    "batch_size": 8,
                    "epochs": 1,
                    "lr": 1e-3,
                    "max_length": 128,
                    "lora_layers": 4,
                    "logging_steps": 1,
                    "eval_steps": 3,
                    "save_steps": 3,
                    "report_to": "tensorboard",
                    "merge": True,
                    "trainer_args": {"metric_for_best_model": "label_accuracy", "load_best_model_at_end": True},
                    "output_dir": str(root / "run"),
                },
                "test",
            )
        )
        return config, train(config)


@pytest.fixture(scope="session")
def smollm2():
    """The packaged SmolLM2-135M-Instruct base, (model, tokenizer) ready to score, loaded once."""
    from bench.generative import load_for_inference  # after HF_HUB_OFFLINE is set, as above

    return load_for_inference("smollm2-135m-instruct")
