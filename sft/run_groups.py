"""Run groups: one experiment entry on one task, expanded over seeds, a settings grid and training sizes.

    runs:
      - model: smollm2-135m-instruct
        method: lora
        seeds: [42, 43, 44]                     # one run folder per seed
        sweep: {lr: [1.0e-4, 3.0e-4], lora_r: [8, 16]}   # chosen on validation
        learning_curve: [64, 256, 1024, all]    # train_limit values ("all": the whole train split), each a group

A group is one training size of one entry. Its runs are named after what varies:
results/runs/<task>/<model>-<method>[-n<size>][-<key><value>...][-seed<seed>]. With a sweep, the grid trains
at the first seed; the setting whose final weights score best on the val records (label accuracy, ties
broken by the lower val loss; val loss for domain text) is chosen, and only that setting trains at the
other seeds and is benchmarked. The test split plays no part in the choice.

A learning-curve point sees at most as many validation records as training records: its runs evaluate on the
first min(size, eval_limit) records of the val split (a seeded, stratified, class-interleaved split, so its
first N records are a seeded slice of that size, the same for every setting and seed of the point). A sweep
at 64 training records is therefore chosen on 64 validation records, not on hundreds: a few-shot setting
chosen on a validation set larger than its training set flatters it (Perez, Kiela & Cho 2021, "True Few-Shot
Learning with Language Models"). A smaller validation slice makes the choice noisier, which is the honest cost
of a small budget; k-fold cross-validation inside the training subset would spend the same budget on
training-and-validation rounds k times over, on a CPU too many.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from prompts.build import load_split
from prompts.tasks import task_slug
from sft import run_folders
from sft.config import FIELDS, TrainConfig, build_config, suggest_key
from sft.models import model_slug
from sftbench_common.errors import UserError
from sftbench_common.fileio import content_hash

GROUP_KEYS = ("seeds", "sweep", "learning_curve")  # experiment keys that expand an entry into several runs
SHORT_NAMES = {"train_limit": "n", "lora_r": "r", "lora_alpha": "alpha", "batch_size": "bs", "epochs": "ep"}


def value_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# the keys that say which run it is, not how it trains: never part of a run folder's name
IDENTITY_KEYS = ("task", "task_options", "model", "method", "run_name", "output_dir", "seed")


def settings_name(settings: dict) -> str:
    """'lr0.0001-n384-cpu-fast': settings as a folder name's part (a preset by its name, a mapping of settings
    such as trainer_args by a short hash of it)."""
    parts = []
    for key, value in settings.items():
        if key == "preset":
            parts.append(str(value))
        elif isinstance(value, dict | list):
            parts.append(f"{key}-{content_hash(value)[:6]}")
        else:
            parts.append(f"{SHORT_NAMES.get(key, key)}{value_text(value)}")
    return "-".join(parts)


def own_run_name(config: TrainConfig, given: dict) -> str | None:
    """The folder name of a run trained on its own (`sftbench train`): <model>-<method> and the settings given
    beyond which run it is, so a run with other settings never shares a folder with an experiment's run or
    another command's (None: no such setting, the plain <model>-<method>)."""
    skipped = (*IDENTITY_KEYS, *run_folders.NOT_TRAINING_SETTINGS)
    settings = {k: getattr(config, k) for k in given if k not in skipped}  # typed: lr 1e-4 as 0.0001
    if config.seed != TrainConfig.seed:
        settings["seed"] = config.seed
    if not settings:
        return None
    return f"{model_slug(config.model)}-{config.method}-{settings_name(settings)}"


def settings_text(settings: dict) -> str:
    """'lr=0.0003, lora_r=16': how a table row names a run's settings."""
    return ", ".join(f"{key}={value_text(value)}" for key, value in settings.items())


def check_seeds(seeds, origin: str) -> list[int]:
    if not isinstance(seeds, list) or not seeds:
        raise UserError(f"{origin}: 'seeds' must be a list of integers, e.g. [42, 43, 44]; got {seeds!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UserError(f"{origin}: 'seeds' must be integers; got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{origin}: 'seeds' lists a seed twice: {seeds}")
    return seeds


def check_sweep(sweep, origin: str) -> list[dict]:
    """The grid of a `sweep: {key: [values]}` mapping, in order (the first key varies slowest)."""
    if not isinstance(sweep, dict) or not sweep:
        raise UserError(f"{origin}: 'sweep' must be a mapping of a TrainConfig key to a list of values; got {sweep!r}")
    for key, values in sweep.items():
        if key not in FIELDS:
            close = suggest_key(key)
            hint = f"; did you mean '{close}'?" if close else ""
            raise UserError(f"{origin}: sweep key '{key}' is not a config key{hint}")
        if key in ("seed", "train_limit", "task", "model", "method", "run_name", "output_dir"):
            use = {"seed": "seeds", "train_limit": "learning_curve"}.get(key)
            raise UserError(f"{origin}: sweep key '{key}' cannot be swept" + (f"; use '{use}:'" if use else ""))
        if not isinstance(values, list) or not values:
            raise UserError(f"{origin}: sweep '{key}' has an empty grid; give a list of values, e.g. [1.0e-4, 3.0e-4]")
    return [dict(zip(sweep, combination)) for combination in itertools.product(*sweep.values())]


WHOLE = "all"  # a learning-curve size: the whole train split


def check_sizes(sizes, origin: str) -> list[int | str]:
    """The curve's sizes, smallest first, `all` (the whole train split) last."""
    if not isinstance(sizes, list) or not sizes:
        raise UserError(f"{origin}: 'learning_curve' must be a list of train sizes, e.g. [64, 256, all]; got {sizes!r}")
    for size in sizes:
        if size != WHOLE and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise UserError(
                f"{origin}: 'learning_curve' sizes must be positive integers or '{WHOLE}' (the whole train split); "
                f"got {size!r}"
            )
    return sorted({s for s in sizes if s != WHOLE}) + [WHOLE] * (WHOLE in sizes)


@dataclass
class RunGroup:
    """One training size of one experiment entry on one task: its settings grid and its seeds."""

    layers: list[tuple[dict, str]]  # build_config layers, the entry's own values last
    settings: list[dict] = field(default_factory=lambda: [{}])  # the sweep's grid ([{}]: no sweep)
    seeds: list[int] | None = None  # None: the config's own seed, one run, the plain folder name
    size: int | str | None = None  # a learning-curve point's train_limit, or WHOLE (None: not a curve)
    origin: str = "config"  # where the entry is, for errors

    def __post_init__(self):
        self.base = build_config(*self.layers)  # bad keys fail here, before anything trains
        for settings in self.settings:
            self.config(settings, self.run_seeds[0])

    @classmethod
    def of(cls, config: TrainConfig) -> RunGroup:
        """A group of one run: `config` as it is."""
        return cls([(dataclasses.asdict(config), "config")])

    @property
    def run_seeds(self) -> list[int]:
        return self.seeds or [self.base.seed]

    @property
    def swept(self) -> bool:
        return len(self.settings) > 1

    @property
    def stem(self) -> str:
        name = f"{model_slug(self.base.model)}-{self.base.method}"
        return name + (f"-n{self.size}" if self.size is not None else "")

    def name(self, settings: dict, seed: int) -> str | None:
        parts = [self.stem] + [f"{SHORT_NAMES.get(k, k)}{value_text(v)}" for k, v in settings.items()]
        parts += [f"seed{seed}"] if self.seeds else []
        return "-".join(parts) if len(parts) > 1 else None

    def config(self, settings: dict, seed: int) -> TrainConfig:
        variant = {**settings, "seed": seed, "run_name": self.name(settings, seed) or self.base.run_name}
        if self.size == WHOLE:
            variant["train_limit"] = None
        elif self.size is not None:
            variant["train_limit"] = self.size
            variant["eval_limit"] = min(self.size, self.base.eval_limit or self.size)  # the point's own val budget
        return build_config(*self.layers, (variant, f"{self.origin} (sweep, seeds, learning_curve)"))

    def grid(self) -> list[TrainConfig]:
        """The grid's runs at the first seed (the runs the choice is made from)."""
        return [self.config(settings, self.run_seeds[0]) for settings in self.settings]

    def choice(self, results_root: Path) -> tuple[dict, list[dict]] | None:
        """(chosen settings, every setting with its val metrics), or None while a grid run is unfinished."""
        scored = []
        for settings, config in zip(self.settings, self.grid(), strict=True):
            run_dir = config.run_dir(results_root)
            if not run_folders.is_finished(run_dir):
                return None
            scored.append({"settings": settings, "run": run_dir.name, **run_folders.val_metrics(run_dir)})
        return max(scored, key=selection_key)["settings"], scored

    def chosen_configs(self, results_root: Path) -> list[TrainConfig] | None:
        """The runs that are benchmarked: the chosen setting at every seed (None: the choice is not made yet)."""
        if not self.swept:
            return [self.config(self.settings[0], seed) for seed in self.run_seeds]
        choice = self.choice(results_root)
        return None if choice is None else [self.config(choice[0], seed) for seed in self.run_seeds]

    def to_train(self, results_root: Path) -> list[TrainConfig]:
        """The runs to train now: the grid first; once it is done, the chosen setting at the other seeds."""
        chosen = self.chosen_configs(results_root)
        if chosen is None:
            return self.grid()
        return list({c.run_dir(results_root): c for c in (self.grid() if self.swept else []) + chosen}.values())

    def planned(self) -> list[TrainConfig]:
        """Every run the group will train, the later seeds of a sweep counted with the grid's first setting
        (the choice is not known before the grid trains; a setting's cost does not depend on it)."""
        return self.grid() + [self.config(self.settings[0], seed) for seed in self.run_seeds[1:]]

    def describe(self, results_root: Path) -> dict:
        """What bench records about the group on each of its rows (seeds, the choice)."""
        info: dict = {"group": self.stem}
        if self.seeds:
            info["seeds"] = self.run_seeds
        if self.size == WHOLE:
            slug = task_slug(self.base.task, self.base.task_options)
            info.update(train_size=len(load_split(slug, "train")), whole_train=True)
        elif self.size is not None:
            info["train_size"] = self.size
        if self.swept:
            choice = self.choice(results_root)
            if choice is not None:
                info["sweep"] = {"chosen": choice[0], "settings": choice[1], "metric": selection_metric(choice[1])}
        return info


def selection_metric(scored: list[dict]) -> str:
    return "eval_label_accuracy" if all("eval_label_accuracy" in s for s in scored) else "eval_loss"


def selection_key(scored: dict):
    """Higher is better: label accuracy, then the lower val loss; val loss alone where no labels are scored."""
    loss = scored.get("eval_loss", float("inf"))
    return (scored.get("eval_label_accuracy", float("-inf")), -loss)
