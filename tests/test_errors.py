"""Malformed input through the real command (sftbench, in-process): one precise line on stderr, exit code 2,
no traceback, and nothing under results/ touched."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from prompts.build import build_task
from prompts.tasks import get_task
from sft import run_folders
from sftbench.cli import cli
from sftbench_common.errors import UserError
from tests.helpers import REPO


def results_snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture
def workspace(tmp_path, isolated_outputs):
    """A results/ folder with a finished-looking table in it, and a few bad input files."""
    results = Path(os.environ["SFTBENCH_RESULTS"])
    (results / "mushroom" / "rows").mkdir(parents=True)
    (results / "results.md").write_text("# an earlier table\n")
    good = "id,review,label\n" + "".join(f"{i},text {i},{'ab'[i % 2]}\n" for i in range(12))
    files = {
        "good.csv": good,
        "nolabel.csv": "id,review,stars\n1,fine,3\n",
        "emptylabel.csv": "id,review,label\n1,fine,\n",
        "dupid.csv": "id,review,label\n1,a,x\n1,b,y\n",
        "empty.csv": "",
        "ragged.csv": "id,review,label\n1,a,x,extra\n",
        "broken.jsonl": '{"text": "ok", "label": "a"}\n{"text": "broken", "label": \n',
        "list.jsonl": '{"text": "ok", "label": "a"}\n[1, 2]\n',
        "tiny.csv": "review,label\na,x\nb,x\nc,x\nd,y\n",
        "emptytext.csv": "id,review,label\n1,,x\n",
        "bad.yaml": "lr: [1, 2\nepochs: 3\n",
        "list.yaml": "- lr\n- epochs\n",
        "typo.yaml": "lerning_rate: 0.1\n",
        "exp_badkey.yaml": "name: x\ntasks: [mushroom]\nrunz: []\n",
        "exp_nomodel.yaml": "name: x\ntasks: [mushroom]\nruns:\n  - {method: lora}\n",
        "exp_noruns.yaml": "name: x\ntasks: [mushroom]\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin.csv").write_bytes("review,label\ncaf\xe9,a\n".encode("latin-1"))
    return tmp_path, results


def cases(d: Path):
    """(entry point, argv, the exact start of the error line)."""
    csv = lambda name, *extra: [f"csv:{d / name}", "task_options.text_column=review", *extra]  # noqa: E731
    train = lambda *extra: [f"task=csv:{d / 'good.csv'}", "task_options.text_column=review", *extra]  # noqa: E731
    return [
        ("data", ["mushrom"], "unknown task 'mushrom'; did you mean 'mushroom'?"),
        ("data", csv("nolabel.csv"), f"{d}/nolabel.csv:2: field 'label': missing"),
        ("data", [f"csv:{d / 'good.csv'}", "task_options.text_column=body"], f"{d}/good.csv:2: field 'body': missing"),
        ("data", csv("emptylabel.csv"), f"{d}/emptylabel.csv:2: field 'label': empty label"),
        ("data", csv("good.csv", "task_options.labels=a,c"), f"{d}/good.csv:3: field 'label': label 'b' is not one of"),
        ("data", csv("dupid.csv", "task_options.id_column=id"), f"{d}/dupid.csv:3: field 'id': duplicate id '1'"),
        ("data", csv("empty.csv"), f"{d}/empty.csv:1: empty CSV file"),
        ("data", csv("ragged.csv"), f"{d}/ragged.csv:2: more values than the header"),
        (
            "data",
            [f"jsonl:{d / 'broken.jsonl'}", "task_options.text_column=text"],
            f"{d}/broken.jsonl:2: broken JSON line",
        ),
        (
            "data",
            [f"jsonl:{d / 'list.jsonl'}", "task_options.text_column=text"],
            f"{d}/list.jsonl:2: expected a JSON object",
        ),
        ("data", csv("latin.csv"), f"{d}/latin.csv:2: not valid UTF-8"),
        ("data", csv("tiny.csv"), f"csv file {d}/tiny.csv: label 'y' has 1 example(s)"),
        ("data", csv("emptytext.csv"), f"{d}/emptytext.csv:2: field 'review': empty text"),
        ("data", [f"csv:{d / 'missing.csv'}", "task_options.text_column=review"], f"{d}/missing.csv: no such file"),
        (
            "data",
            [f"csv:{d / 'good.csv'}", "task_options.text_column=review", "task_options.feature_columns=id"],
            "task 'csv:",
        ),
        ("train", ["lerning_rate=0.1"], "command line: unknown config key 'lerning_rate'"),
        ("train", ["learning_rate=1e-4"], "command line: unknown config key 'learning_rate'; did you mean 'lr'?"),
        ("train", ["method=dora"], "method 'dora' is not one of"),
        ("train", ["preset=cpu-fats"], "unknown preset 'cpu-fats'; did you mean 'cpu-fast'?"),
        ("train", ["precision=fp8"], "precision 'fp8' is not one of"),
        ("train", ["train_sampling=random"], "train_sampling 'random' is not one of first, leaf-topup"),
        ("train", ["batch_size=0"], "config key 'batch_size' must be a positive integer"),
        ("train", ["lr=fast"], "command line: 'lr' must be a number, got 'fast'"),
        ("train", ["epochs"], "override 'epochs': expected key=value"),
        ("train", ["--config", str(d / "nope.yaml")], f"{d}/nope.yaml: no such config file"),
        ("train", ["--config", str(d / "bad.yaml")], f"{d}/bad.yaml:"),
        ("train", ["--config", str(d / "list.yaml")], f"{d}/list.yaml"),
        ("train", ["--config", str(d / "typo.yaml")], f"{d}/typo.yaml: unknown config key 'lerning_rate'"),
        ("train", train("model=nobody/no-such-model"), "model 'nobody/no-such-model' is not packaged"),
        ("train", train("task_options.label_column=stars"), f"{d}/good.csv:2: field 'stars': missing"),
        ("train", ["task=csv:" + str(d / "good.csv")], "task 'csv:"),
        ("train-all", ["--experiment", "defualt"], "unknown experiment 'defualt'"),
        ("train-all", ["--experiment", str(d / "exp_badkey.yaml")], f"{d}/exp_badkey.yaml: unknown key(s) ['runz']"),
        (
            "train-all",
            ["--experiment", str(d / "exp_nomodel.yaml")],
            f"{d}/exp_nomodel.yaml: runs[1]: expected a mapping",
        ),
        ("train-all", ["--experiment", str(d / "exp_noruns.yaml")], f"{d}/exp_noruns.yaml: no runs listed"),
        ("train-all", ["--experiment", "smoke", "--executor", "slurm"], "--executor slurm: no `sbatch` on this"),
        ("plan", ["--workers", "0,2"], "--workers: a comma-separated list of positive numbers"),
        ("bench", ["--modes", "score,guess"], "--modes: unknown mode 'guess'"),
        ("bench", ["--experiment", "nope"], "unknown experiment 'nope'"),
    ]


def test_every_malformed_input_gets_its_error_and_exit_2(workspace, capsys):
    folder, results = workspace
    all_cases = cases(folder)
    assert len({(m, tuple(a)) for m, a, _ in all_cases}) >= 30
    before = results_snapshot(results)
    failures = []
    for command, argv, expected in all_cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, *argv], prog_name="sftbench")
        err = capsys.readouterr().err
        if (
            exit_info.value.code != 2
            or not err.startswith(f"error: {expected}")
            or err.count("\n") != 1
            or "Traceback" in err
        ):
            failures.append((command, argv, exit_info.value.code, err))
        assert results_snapshot(results) == before, f"{command} {argv} changed results/"
    assert not failures, "\n".join(map(str, failures))


def test_debug_shows_the_traceback(workspace):
    with pytest.raises(UserError):
        cli.main(["train", "method=dora", "--debug"], prog_name="sftbench")
    with pytest.raises(UserError):
        cli.main(["--debug", "train", "method=dora"], prog_name="sftbench")


def test_a_full_disk_stops_training_with_one_line_and_keeps_what_was_written(isolated_outputs):
    """A file-size limit (as a full disk would) refuses the first checkpoint's adapter: one line naming the file,
    exit 2, the run's record intact, and the half-written checkpoint never taken for a resume point."""
    build_task(get_task("mushroom"))  # the data is written before the limit

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000_000, 4_000_000))  # the LoRA adapter is 19.6 MB

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sftbench",
            "train",
            "task=mushroom",
            "train_limit=16",
            "eval_limit=4",
            "max_steps=2",
            "save_steps=1",
            "report_to=none",
            "batch_size=4",
            "max_length=96",  # all layers still: the adapter must outgrow the limit
            "run_name=smollm2-135m-instruct-lora",
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    line = done.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line, line[-3000:]
    assert line.startswith("error: could not write ") and "file too large for the file-size limit" in line, line
    assert "checkpoint-1" in line
    run_dir = isolated_outputs / "results" / "runs" / "mushroom" / "smollm2-135m-instruct-lora"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert (run_dir / "config.yaml").read_text().startswith("task: mushroom")
    assert run_folders.last_checkpoint(run_dir) is None  # checkpoint-1 is there, but not complete
    assert (run_dir / "checkpoints" / "checkpoint-1").is_dir()
