"""Configuration: defaults < preset < file < command line; unknown keys suggest the nearest."""

import pytest

from sft.config import build_config, parse_overrides, read_yaml
from sftbench_common.errors import UserError


def test_layers_and_preset():
    config = build_config(({"preset": "cpu-fast", "lr": 1e-3}, "file"), (parse_overrides(["epochs=2"]), "cli"))
    assert config.lr == 1e-3 and config.epochs == 2 and config.train_limit == 384 and config.batch_size == 8


def test_tweet_qlora_preset_is_the_seed_recipe():
    config = build_config(({"preset": "tweet-qlora"}, "cli"))
    assert (config.method, config.lr, config.scheduler, config.grad_accum) == ("qlora", 2e-4, "constant_with_warmup", 4)


def test_unknown_key_suggests_nearest():
    with pytest.raises(UserError, match=r"command line: unknown config key 'learning_rte'; did you mean 'lr'"):
        build_config(({"learning_rte": 1}, "command line"))
    with pytest.raises(UserError, match=r"did you mean 'epochs'"):
        build_config(({"epoch": 1}, "command line"))


def test_bad_values():
    with pytest.raises(UserError, match="method 'lorra'"):
        build_config(({"method": "lorra"}, "cli"))
    with pytest.raises(UserError, match="'batch_size' must be a positive integer"):
        build_config(({"batch_size": 0}, "cli"))
    with pytest.raises(UserError, match="expected key=value"):
        parse_overrides(["lr"])
    with pytest.raises(UserError, match="unknown preset 'cpu-fsat'; did you mean 'cpu-fast'"):
        build_config(({"preset": "cpu-fsat"}, "cli"))


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lr: 1\nepochs: [1\n")
    with pytest.raises(UserError, match=r"bad.yaml:3: invalid YAML"):
        read_yaml(path)


def test_exponent_without_a_dot_is_a_number():
    config = build_config((parse_overrides(["lr=2e-4", "warmup_ratio=1e-1"]), "command line"))
    assert config.lr == 2e-4 and config.warmup_ratio == 0.1
    with pytest.raises(UserError, match=r"command line: 'lr' must be a number, got 'fast'"):
        build_config((parse_overrides(["lr=fast"]), "command line"))
