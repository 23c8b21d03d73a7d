"""`sft.experiment --plan`: the counts match what training does, the estimates come from measured steps and
documented GPU figures, and a model that cannot load offline is counted with a stand-in."""

import dataclasses
import json

import pytest

from sft.config import build_config
from sft.plan import GPUS, KNOWN_PARAMETERS, optimizer_steps, packed_seconds, plan_run, plan_table
from tests.helpers import run_sftbench

pytestmark = pytest.mark.slow


def test_plan_counts_what_the_trained_run_did(lora_run):
    config, run_dir = lora_run
    plan = plan_run(config, measure=True)
    run = json.loads((run_dir / "run.json").read_text())
    assert plan.examples == run["train_examples"] == 48
    assert plan.steps == run["global_step"] == 6
    assert plan.evaluations == 2  # every 3 steps
    logged = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert sum("eval_loss" in r for r in logged) == plan.evaluations
    # the final weights' val metrics, recorded for a sweep's choice: here the best evaluation's, which they are
    best = next(r for r in logged if r.get("step") == run["best_step"] and "eval_loss" in r)
    assert run["val_metrics"]["eval_label_accuracy"] == best["eval_label_accuracy"]
    assert plan.parameters == 134_515_008  # SmolLM2-135M (tied embeddings counted once)
    assert 48 * 60 < plan.tokens < 48 * 400  # prompt + answer, chat template included
    assert plan.machine_s is not None and plan.machine_s > 0 and "s/step" in plan.machine_detail
    table = plan_table([plan], "T4", "bf16")
    assert f"| 48 | {plan.tokens:,} | 6 | 2 |" in table and "| **total** | 48 |" in table


def test_gpu_estimate_follows_the_documented_figures(lora_run):
    config, _ = lora_run
    plan = plan_run(config, measure=False)
    assert plan.machine_s is None
    t4, h100 = plan.gpu_seconds("T4"), plan.gpu_seconds("H100")
    overhead = plan.steps * 0.05
    assert (t4 - overhead) / (h100 - overhead) == pytest.approx(GPUS["H100"] / GPUS["T4"])
    full = dataclasses.replace(plan, config=dataclasses.replace(config, method="full"))
    assert (full.gpu_seconds("T4") - overhead) > (t4 - overhead)  # 6 x parameters per token, not 4 x


def test_a_hub_model_offline_is_counted_with_a_stand_in():
    config = build_config(
        (
            {
                "task": "mushroom",
                "model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
                "method": "qlora",
                "train_limit": 16,
                "batch_size": 4,
                "grad_accum": 2,
                "epochs": 2,
                "eval_limit": 8,
            },
            "test",
        )
    )
    plan = plan_run(config, measure=True)  # nothing to measure here: the model is not on this machine
    assert plan.stand_in == "smollm2-135m-instruct" and plan.machine_s is None
    assert plan.parameters == KNOWN_PARAMETERS[config.model][1]
    assert plan.steps == optimizer_steps(config, 16) == 4  # 4 batches / 2 accumulated, 2 epochs
    assert "~" in plan_table([plan], "T4", "bf16")


def test_plan_command_prints_the_table_and_trains_nothing(isolated_outputs):
    done = run_sftbench("plan", "--experiment", "smoke", "--no-measure")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| mushroom/smollm2-135m-instruct-lora | 32 |" in done.stdout
    assert "| mushroom/minilm-l6-full | 64 |" in done.stdout
    assert not (isolated_outputs / "results" / "runs").exists()
    # the wall time on N workers, for choosing N: smoke's runs packed on 1 and on 2 GPUs
    assert "| workers | this machine's kind | T4 |" in done.stdout
    one, two = (line for line in done.stdout.splitlines() if line.startswith(("| 1 |", "| 2 |")))
    assert one.endswith(" |") and two != one


def test_runs_are_packed_longest_first_onto_the_free_worker():
    # 5 | 4, then each 3 to the emptier worker: 5 | 7, 8 | 7, 8 | 10 (the best packing, 9 | 9, is within 4/3 of it)
    assert packed_seconds([5, 4, 3, 3, 3], 2) == 10
    assert packed_seconds([5, 4, 3], 1) == 12 and packed_seconds([5, 4, 3], 8) == 5
    assert packed_seconds([], 4) == 0


def test_plan_estimates_each_tasks_bench_from_the_committed_scoring_rates():
    """The default experiment's bench, row by row from the rates its committed rows measured: the estimate is the
    sum of those rows' own seconds (the same records, the same machine), and on 2 workers the longest task."""
    import json

    from bench.run import MODES, BenchOptions, plan_bench
    from sft.experiment import load_experiment
    from tests.helpers import REPO

    experiment = load_experiment("default", results=REPO / "results")
    estimates = plan_bench(experiment, BenchOptions(modes=MODES), [1, 2])
    for task, seconds in estimates.items():
        rows = [json.loads(p.read_text()) for p in (REPO / "results" / task / "rows").glob("*.json")]
        measured = sum(r["examples"] / r["examples_per_s"] for r in rows)
        assert seconds == pytest.approx(measured, rel=0.01), task
