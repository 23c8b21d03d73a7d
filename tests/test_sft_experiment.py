"""Experiments: a file of tasks x models x methods, one TrainConfig per run."""

from sft.experiment import load_experiment


def test_default_experiment_lists_its_runs(isolated_outputs):
    experiment = load_experiment("default")
    pairs = {(c.task, c.model, c.method) for c in experiment.configs}
    assert ("mushroom", "smollm2-135m-instruct", "lora") in pairs
    assert all(c.preset == "cpu-fast" for c in experiment.configs)
    assert str(experiment.configs[0].run_dir(isolated_outputs / "results")).endswith(
        "results/runs/mushroom/smollm2-135m-instruct-lora"
    )
