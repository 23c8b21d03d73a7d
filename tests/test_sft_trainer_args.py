"""Any SFTConfig / TrainingArguments setting through `trainer_args`, and any LoraConfig field through `lora_args`,
checked, merged over the toolkit's own."""

from pathlib import Path

import pytest

from sft.config import build_config, parse_overrides, to_yaml
from sft.train import train
from sft.trainer_args import check_trackers, installed_trackers, lora_config, training_arguments
from sftbench.cli import cli
from sftbench_common.errors import UserError


def config_from(*pairs, **values):
    return build_config((values, "file"), (parse_overrides(list(pairs)), "command line"))


def test_trainer_args_reach_sftconfig_over_the_toolkits_settings(tmp_path):
    config = config_from(
        "trainer_args.metric_for_best_model=label_accuracy",
        "trainer_args.adam_epsilon=1e-7",  # YAML reads this as a string: it must arrive as a float
        "trainer_args.logging_first_step=false",  # the toolkit sets it true
        trainer_args={"save_only_model": True, "adam_epsilon": 1e-5},
        report_to="none",
    )
    assert config.trainer_args == {
        "save_only_model": True,
        "adam_epsilon": "1e-7",
        "metric_for_best_model": "label_accuracy",
        "logging_first_step": False,
    }
    args = training_arguments(config, tmp_path, "fp32", has_eval=True)
    assert type(args).__name__ == "SFTConfig"
    assert args.adam_epsilon == 1e-7 and isinstance(args.adam_epsilon, float)
    assert args.metric_for_best_model == "label_accuracy" and args.greater_is_better is True
    assert args.save_only_model is True and args.logging_first_step is False
    assert args.report_to == []  # report_to=none, the short key, reaches the arguments (default: tensorboard)
    assert args.learning_rate == config.lr and args.output_dir == str(tmp_path / "checkpoints")
    # a classifier run gets TrainingArguments: SFT-only fields are refused there, by name
    classifier = config_from("trainer_args.packing=true")
    with pytest.raises(UserError, match=r"trainer_args.packing: not a field of TrainingArguments"):
        training_arguments(classifier, tmp_path, "fp32", has_eval=True, sft=False)
    assert training_arguments(config_from("trainer_args.packing=true"), tmp_path, "fp32", True).packing is True


@pytest.mark.parametrize(
    "pair,message",
    [
        ("trainer_args.learning_rate=1e-4", r"trainer_args.learning_rate: set it with the config key 'lr'"),
        ("trainer_args.bf16=true", r"set it with the config key 'precision'"),
        ("trainer_args.output_dir=/tmp/x", r"set it with the config key 'output_dir"),
        ("trainer_args.push_to_hub=true", r"config key 'push_to_hub"),
        ("trainer_args.metric_for_bst_model=x", r"not a field of SFTConfig; did you mean 'metric_for_best_model'"),
        ("trainer_args.eval_strategy=sometimes", r"the trainer refuses these settings \(eval_strategy=sometimes\)"),
    ],
)
def test_bad_trainer_args_are_one_clear_error(tmp_path, pair, message):
    with pytest.raises(UserError, match=message):
        training_arguments(config_from(pair), tmp_path, "fp32", has_eval=True)


def test_a_trainer_field_given_at_the_top_level_points_to_trainer_args():
    with pytest.raises(
        UserError, match=r"unknown config key 'load_best_model_at_end'; did you mean 'trainer_args.load"
    ):
        config_from("load_best_model_at_end=true")
    with pytest.raises(UserError, match=r"unknown config key 'learning_rate'; did you mean 'lr'"):
        config_from("learning_rate=1e-4")
    with pytest.raises(UserError, match=r"'trainer_args' must be a mapping"):
        build_config(({"trainer_args": "packing"}, "file"))
    with pytest.raises(UserError, match="push_to_hub=true needs hub_model_id"):
        config_from("push_to_hub=true")


def test_trackers_are_checked_before_training(isolated_outputs):
    check_trackers("tensorboard")
    check_trackers(["none"])
    with pytest.raises(UserError, match=r"unknown tracker 'tensorbord'; did you mean 'tensorboard'"):
        check_trackers("tensorbord")
    # transformers answers which trackers are installed: each one it does not find is refused by name
    missing = [name for name in ("wandb", "trackio", "flyte", "azure_ml") if name not in installed_trackers()]
    assert "tensorboard" in installed_trackers() and missing
    for tracker in missing:
        with pytest.raises(UserError, match=rf"no installed package for '{tracker}'"):
            check_trackers(["tensorboard", tracker])
    # through the command line: refused before a run folder exists
    with pytest.raises(UserError, match="unknown tracker"):
        cli.main(["--debug", "train", "task=mushroom", "report_to=tensorbord", "train_limit=8"])
    with pytest.raises(UserError, match="refuses these settings"):
        cli.main(["--debug", "train", "task=mushroom", "train_limit=8", "trainer_args.load_best_model_at_end=true"])
    assert not Path(isolated_outputs / "results" / "runs").exists()


def test_lora_args_reach_loraconfig_and_a_typo_is_named():
    config = config_from(
        "lora_args.use_rslora=true", "lora_args.layers_to_transform=[28,29]", "lora_target_modules=[q_proj,v_proj]"
    )
    adapter = lora_config(config)
    assert adapter.use_rslora is True and adapter.layers_to_transform == [28, 29]
    assert adapter.target_modules == {"q_proj", "v_proj"} and adapter.r == 16
    with pytest.raises(UserError, match=r"LoraConfig refuses them: `layers_to_transform` cannot be used"):
        lora_config(config_from("lora_args.layers_to_transform=[28,29]"))  # with target_modules all-linear
    assert "lora_args:" in to_yaml(config)  # written to the run's config.yaml when set...
    assert "lora_args" not in to_yaml(config_from())  # ...and not otherwise, so earlier runs keep their config
    with pytest.raises(UserError, match=r"lora_args.use_rslorra: not a peft LoraConfig field; did you mean "):
        lora_config(config_from("lora_args.use_rslorra=true"))
    with pytest.raises(UserError, match=r"'lora_args' must be a mapping"):
        config_from(lora_args="use_dora")


def test_lora_layers_adapt_every_linear_layer_of_the_top_n_only(smollm2):
    model, _ = smollm2
    adapter = lora_config(config_from("lora_layers=8"), model=model)
    assert adapter.layers_to_transform == list(range(22, 30))  # SmolLM2-135M has 30 layers
    assert adapter.target_modules == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    named = lora_config(config_from("lora_layers=2", "lora_target_modules=[q_proj,v_proj]"), model=model)
    assert named.layers_to_transform == [28, 29] and named.target_modules == {"q_proj", "v_proj"}
    assert "lora_layers: 8" in to_yaml(config_from("lora_layers=8"))
    assert "lora_layers" not in to_yaml(config_from())  # earlier runs keep their config
    with pytest.raises(UserError, match="the model has 30 transformer layers"):
        lora_config(config_from("lora_layers=31"), model=model)
    with pytest.raises(UserError, match="'lora_layers' must be a positive integer"):
        config_from("lora_layers=0")
    with pytest.raises(UserError, match="set one of them"):
        config_from("lora_layers=2", "lora_args.layers_to_transform=[28,29]")


def test_more_lora_layers_than_the_model_has_fail_before_anything_is_written(isolated_outputs):
    with pytest.raises(UserError, match="lora_layers=31: the model has 30 transformer layers"):
        train(config_from("task=mushroom", "lora_layers=31", "train_limit=8"))
    assert not (isolated_outputs / "results").exists()
