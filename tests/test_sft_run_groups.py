"""Experiment entries expanded over seeds, a sweep's grid and learning-curve sizes; the choice on val."""

import json
import re

import pytest

from sft.config import to_yaml
from sft.experiment import load_experiment
from sft.run_groups import RunGroup
from sftbench_common.errors import UserError


def write_experiment(folder, run: str, top: str = "") -> str:
    path = folder / "exp.yaml"
    path.write_text(f"name: t\ntasks: [tweets]\npreset: cpu-fast\n{top}runs:\n  - {run}\n")
    return str(path)


def finish(config, root, **val):
    """A run folder that says it finished, with the val metrics of its final weights."""
    run_dir = config.run_dir(root)
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(to_yaml(config))
    (run_dir / "run.json").write_text(json.dumps({"status": "finished", "val_metrics": val}))


def test_seeds_sweep_and_curve_name_one_folder_per_run(tmp_path, isolated_outputs):
    experiment = load_experiment(
        write_experiment(
            tmp_path,
            "{model: smollm2-135m-instruct, method: lora, seeds: [42, 43], sweep: {lr: [1.0e-4, 3.0e-4], lora_r: [8]},"
            " learning_curve: [256, 64]}",
        )
    )
    assert [g.size for g in experiment.groups] == [64, 256]  # one group per curve point, in order
    root = isolated_outputs / "results"
    group = experiment.groups[0]
    names = [c.run_dir(root).name for c in group.grid()]
    assert names == [
        "smollm2-135m-instruct-lora-n64-lr0.0001-r8-seed42",
        "smollm2-135m-instruct-lora-n64-lr0.0003-r8-seed42",
    ]
    grid = group.grid()
    assert [(c.lr, c.lora_r, c.seed, c.train_limit) for c in grid] == [(1e-4, 8, 42, 64), (3e-4, 8, 42, 64)]
    assert "run_name: smollm2-135m-instruct-lora-n64-lr0.0001-r8-seed42" in to_yaml(grid[0])
    # Before the grid is trained no choice exists: only the grid is to train, and nothing is benchmarked.
    assert group.to_train(root) == grid and group.chosen_configs(root) is None
    assert len(experiment.configs) == 2 * (2 + 1)  # per size: the grid, then one more seed of the chosen setting


def test_each_curve_point_chooses_on_a_val_slice_no_larger_than_its_train_records(tmp_path, isolated_outputs):
    """A sweep at 64 records is chosen on the first 64 val records; the whole split ('all') on the entry's own
    eval_limit; every setting and seed of a point sees the same slice."""
    experiment = load_experiment(
        write_experiment(
            tmp_path,
            "{model: smollm2-135m-instruct, method: lora, seeds: [42, 43], sweep: {lr: [1.0e-4, 1.0e-3]},"
            " learning_curve: [all, 1024, 64], overrides: {eval_limit: 512}}",
        )
    )
    assert [g.size for g in experiment.groups] == [64, 1024, "all"]
    small, large, whole = experiment.groups
    assert {c.eval_limit for c in small.planned()} == {64} and {c.train_limit for c in small.planned()} == {64}
    assert {c.eval_limit for c in large.planned()} == {512}  # the entry's cap, below the train size
    assert {(c.train_limit, c.eval_limit) for c in whole.planned()} == {(None, 512)}
    assert (
        whole.grid()[0].run_dir(isolated_outputs / "results").name == "smollm2-135m-instruct-lora-nall-lr0.0001-seed42"
    )


def test_a_plain_entry_keeps_its_folder_and_config(tmp_path, isolated_outputs):
    experiment = load_experiment(write_experiment(tmp_path, "{model: smollm2-135m-instruct, method: lora}"))
    (config,) = experiment.configs
    assert config.run_dir(isolated_outputs / "results").name == "smollm2-135m-instruct-lora"
    assert config.run_name is None and "run_name" not in to_yaml(config)  # committed runs' config.yaml unchanged


def test_the_sweep_chooses_on_val_and_then_trains_the_other_seeds(tmp_path, isolated_outputs):
    experiment = load_experiment(
        write_experiment(
            tmp_path,
            "{model: smollm2-135m-instruct, method: lora, seeds: [1, 2, 3], sweep: {lr: [1.0e-4, 3.0e-4, 1.0e-3]}}",
        )
    )
    (group,) = experiment.groups
    root = isolated_outputs / "results"
    low, middle, high = group.grid()
    finish(low, root, eval_label_accuracy=0.75, eval_loss=0.30)
    finish(middle, root, eval_label_accuracy=0.875, eval_loss=0.40)
    assert group.choice(root) is None  # one setting still untrained
    finish(high, root, eval_label_accuracy=0.875, eval_loss=0.35)  # ties on accuracy: the lower val loss wins
    chosen, scored = group.choice(root)
    assert chosen == {"lr": 1e-3} and [s["eval_label_accuracy"] for s in scored] == [0.75, 0.875, 0.875]
    benchmarked = group.chosen_configs(root)
    assert [(c.lr, c.seed) for c in benchmarked] == [(1e-3, 1), (1e-3, 2), (1e-3, 3)]
    assert [c.run_dir(root).name for c in group.to_train(root)][-2:] == [
        "smollm2-135m-instruct-lora-lr0.001-seed2",
        "smollm2-135m-instruct-lora-lr0.001-seed3",
    ]
    assert group.describe(root)["sweep"]["chosen"] == {"lr": 1e-3}


def test_domain_sweeps_choose_by_val_loss(tmp_path, isolated_outputs):
    group = RunGroup(
        [({"task": "tweets", "model": "smollm2-135m-instruct", "method": "lora"}, "t")], [{"lr": 1e-4}, {"lr": 1e-3}]
    )
    root = isolated_outputs / "results"
    first, second = group.grid()
    finish(first, root, eval_loss=2.0)
    finish(second, root, eval_loss=1.5)
    assert group.choice(root)[0] == {"lr": 1e-3}


@pytest.mark.parametrize(
    "run, message",
    [
        (
            "{model: minilm-l6, sweep: {learning_rate: [1.0e-4]}}",
            "sweep key 'learning_rate' is not a config key; did you mean 'lr'",
        ),
        ("{model: minilm-l6, sweep: {lr: []}}", "sweep 'lr' has an empty grid"),
        ("{model: minilm-l6, sweep: {}}", "'sweep' must be a mapping"),
        ("{model: minilm-l6, sweep: {seed: [1, 2]}}", "sweep key 'seed' cannot be swept; use 'seeds:'"),
        ("{model: minilm-l6, sweep: {train_limit: [8]}}", "use 'learning_curve:'"),
        ("{model: minilm-l6, seeds: [1, two]}", "'seeds' must be integers; got 'two'"),
        ("{model: minilm-l6, seeds: [1.5]}", "'seeds' must be integers; got 1.5"),
        ("{model: minilm-l6, seeds: 42}", "'seeds' must be a list of integers"),
        ("{model: minilm-l6, seeds: [1, 1]}", "lists a seed twice"),
        (
            "{model: minilm-l6, learning_curve: [64, 0]}",
            "sizes must be positive integers or 'all' (the whole train split); got 0",
        ),
        ("{model: minilm-l6, sweep: {lr: [fast]}}", "'lr' must be a number, got 'fast'"),
    ],
)
def test_bad_grids_and_seeds_are_one_clear_error_naming_the_entry(tmp_path, run, message):
    with pytest.raises(UserError, match="exp.yaml: runs\\[1\\].*" + re.escape(message)):
        load_experiment(write_experiment(tmp_path, run))


def test_bad_fewshot_in_an_experiment_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="'fewshot' counts must be integers >= 0; got -4"):
        load_experiment(write_experiment(tmp_path, "{model: minilm-l6}", top="fewshot: [0, -4]\n"))
