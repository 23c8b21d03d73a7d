"""Experiments: a file of tasks x models x methods, one TrainConfig per run."""

import json

from prompts.build import build_task
from prompts.tasks import get_task
from sft.config import to_yaml
from sft.experiment import experiment_for_task, list_runs, load_experiment
from tests.helpers import REPO


def test_default_experiment_lists_its_runs(isolated_outputs):
    experiment = load_experiment("default")
    pairs = {(c.task, c.model, c.method) for c in experiment.configs}
    assert ("mushroom", "smollm2-135m-instruct", "lora") in pairs
    assert ("tweets", "smollm2-135m-instruct", "lora") in pairs  # a generative model on a sentiment task
    assert all(c.share_prefix and c.lora_dropout == 0 for c in experiment.configs)  # the shared-prefix path
    assert all(c.preset == "cpu-fast" for c in experiment.configs)
    # SmolLM2 on mushroom adapts its top 8 layers only, at the learning rate chosen on val for that; on tweets all
    adapted = {(c.task, c.lora_layers, c.lr) for c in experiment.configs if c.model.startswith("smollm2")}
    assert adapted == {("mushroom", 8, 2e-3), ("tweets", None, 1e-3)}
    assert str(experiment.configs[0].run_dir(isolated_outputs / "results")).endswith(
        "results/runs/mushroom/smollm2-135m-instruct-lora"
    )

    # `train-all --tasks tweets` and `--only`: the runs of that task, or those whose folder holds the text
    tweets = list_runs(experiment, tasks={"tweets"})
    assert tweets and {c.task for c in tweets} == {"tweets"} and len(tweets) < len(experiment.configs)
    assert {c.model for c in list_runs(experiment, only="minilm")} == {"minilm-l6"}


def test_committed_runs_are_what_the_experiments_train_now():
    """The committed table comes from the committed code: each committed run's config.yaml is what its
    experiment produces today (so a fresh clone's `make train-all` trains what the table shows), it was
    trained from a clean tree, and on the split the task builds today."""
    split_hashes = {}

    def check(config, run_dir):
        assert (run_dir / "config.yaml").read_text() == to_yaml(config), f"{run_dir}: trained by other code"
        info = json.loads((run_dir / "run.json").read_text())
        assert info["status"] == "finished" and not info["git_commit"].endswith("+dirty"), run_dir
        if config.task not in split_hashes:
            split_hashes[config.task] = build_task(get_task(config.task, **config.task_options))["split_hash"]
        assert info["split_hash"] == split_hashes[config.task], f"{run_dir}: trained on another split"

    for name in ("default", "domain"):
        for config in load_experiment(name).configs:
            check(config, config.run_dir(REPO / "results"))
    # The study keeps its results in results/study/: every run committed there is one the study trains today.
    study = load_experiment("study")
    root = REPO / "results" / study.results
    planned = {c.run_dir(root): c for group in study.groups for c in group.to_train(root) + group.planned()}
    committed = sorted(p.parent for p in root.glob("runs/*/*/config.yaml"))
    assert committed, "no study runs committed"
    for run_dir in committed:
        assert run_dir in planned, f"{run_dir}: not a run of configs/experiments/study.yaml"
        check(planned[run_dir], run_dir)


def test_the_csv_experiment_example_trains_and_benchmarks_a_users_file(tmp_path, isolated_outputs):
    """configs/examples/my-csv-experiment.yaml, with its csv: path pointed at a small file of reviews: train-all
    and bench run it as written (the encoder only, a few steps, to keep the test short)."""
    from tests.helpers import REPO, run_sftbench

    reviews = tmp_path / "reviews.csv"
    words = {"positive": ["great", "lovely", "superb"], "negative": ["awful", "dull", "poor"]}
    lines = [f"a {w} film take {i},{label}" for label, ws in words.items() for w in ws for i in range(8)]
    reviews.write_text("review,sentiment\n" + "\n".join(lines) + "\n")
    example = (REPO / "configs" / "examples" / "my-csv-experiment.yaml").read_text()
    experiment = tmp_path / "mine.yaml"
    experiment.write_text(example.replace("csv:reviews.csv", f"csv:{reviews}"))
    quick = ["--only", "minilm", "max_steps=2", "save_steps=2", "eval_limit=4"]
    trained = run_sftbench("train-all", "--experiment", str(experiment), *quick)
    assert trained.returncode == 0, trained.stderr[-2000:]
    benched = run_sftbench("bench", "--experiment", str(experiment), "max_steps=2", "save_steps=2", "eval_limit=4")
    assert benched.returncode == 0, benched.stderr[-2000:]
    table = (isolated_outputs / "results" / "my-csv" / "results.md").read_text()
    assert "## reviews" in table and "| minilm-l6 | fine-tuned | full | head |" in table


def test_compare_puts_each_model_of_an_experiment_on_the_users_task_once(isolated_outputs):
    """`sftbench compare TASK` builds its experiment from a template's runs: each (model, method) once, every
    run on the user's task, into results/compare-<task>/ (the default experiment lists SmolLM2 twice)."""
    experiment = experiment_for_task("default", "csv:reviews.csv", {"text_column": "review"}, {"lr": 1e-4})
    assert [(c.model, c.method) for c in experiment.configs] == [
        ("smollm2-135m-instruct", "lora"),
        ("minilm-l6", "full"),
    ]
    assert {(c.task, repr(c.task_options), c.lr) for c in experiment.configs} == {
        ("csv:reviews.csv", "{'text_column': 'review'}", 1e-4)
    }
    assert experiment.root == isolated_outputs / "results" / "compare-reviews"
    assert experiment.fewshot == [0, 4] and experiment.name == "compare-reviews"


def test_compare_goes_from_a_csv_to_a_table_in_one_command(tmp_path, isolated_outputs):
    """The newcomer's path: one command trains the compare runs on a CSV, benchmarks them with their base models,
    4-shot prompting and the baselines, and prints the table's path and its headline; then one run trained
    with `sftbench train` is benchmarked on its own with `bench --run`."""
    from tests.helpers import QUICK_LORA, run_sftbench

    reviews = tmp_path / "food.csv"
    words = {"positive": ["tasty", "fresh", "delicious"], "negative": ["stale", "bland", "soggy"]}
    lines = [f"the {w} snack number {i} arrived,{label}" for label, ws in words.items() for w in ws for i in range(8)]
    reviews.write_text("review,sentiment\n" + "\n".join(lines) + "\n")
    task = [f"csv:{reviews}", "task_options.text_column=review", "task_options.label_column=sentiment"]
    quick = ["max_steps=2", "save_steps=2", "eval_limit=4", *QUICK_LORA]
    compared = run_sftbench("compare", *task, *quick)
    assert compared.returncode == 0, compared.stderr[-3000:]
    root = isolated_outputs / "results" / "compare-food"
    assert f"table: {root / 'results.md'}" in compared.stdout
    assert "food: n = 4 of 4 test records; most accurate: " in compared.stdout
    assert "smollm2-135m-instruct fine-tuned lora score: " in compared.stdout
    assert " vs its base model" in compared.stdout and "minilm-l6 fine-tuned full head: " in compared.stdout
    table = (root / "results.md").read_text()
    assert "| smollm2-135m-instruct | base, 4-shot | - | score |" in table
    assert "| tf-idf + logistic regression | baseline |" in table and (root / "index.html").is_file()

    # a run of its own, then benchmarked alone into the results folder it was trained under
    trained = run_sftbench("train", *task[1:], f"task={task[0]}", "model=minilm-l6", "method=full", "lr=1e-4", *quick)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run = next((isolated_outputs / "results" / "runs" / "food").glob("minilm-l6-full*"))
    benched = run_sftbench("bench", "--run", str(run), "--no-baselines")
    assert benched.returncode == 0, benched.stderr[-3000:]
    table = (isolated_outputs / "results" / "results.md").read_text()
    assert f"| minilm-l6 | fine-tuned | full, {run.name.removeprefix('minilm-l6-full-')} |" in table or (
        "| minilm-l6 | fine-tuned | full |" in table
    ), table
