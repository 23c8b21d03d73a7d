"""Malformed input through the real command-line entry points (common/errors.py's run_cli): one precise line,
exit code 2, no traceback, and nothing under results/ touched."""

import importlib
import os
from pathlib import Path

import pytest

from common.errors import UserError, run_cli
from sft.train import main as train_main


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
    csv = lambda name, *extra: ["--task", f"csv:{d / name}", "--text-column", "review", *extra]  # noqa: E731
    train = lambda *extra: [f"task=csv:{d / 'good.csv'}", "task_options.text_column=review", *extra]  # noqa: E731
    return [
        ("prompts.build", ["--task", "mushrom"], "unknown task 'mushrom'; did you mean 'mushroom'?"),
        ("prompts.build", csv("nolabel.csv"), f"{d}/nolabel.csv:2: field 'label': missing"),
        (
            "prompts.build",
            ["--task", f"csv:{d / 'good.csv'}", "--text-column", "body"],
            f"{d}/good.csv:2: field 'body': missing",
        ),
        ("prompts.build", csv("emptylabel.csv"), f"{d}/emptylabel.csv:2: field 'label': empty label"),
        (
            "prompts.build",
            csv("good.csv", "--labels", "a,c"),
            f"{d}/good.csv:3: field 'label': label 'b' is not one of",
        ),
        ("prompts.build", csv("dupid.csv", "--id-column", "id"), f"{d}/dupid.csv:3: field 'id': duplicate id '1'"),
        ("prompts.build", csv("empty.csv"), f"{d}/empty.csv:1: empty CSV file"),
        ("prompts.build", csv("ragged.csv"), f"{d}/ragged.csv:2: more values than the header"),
        (
            "prompts.build",
            ["--task", f"jsonl:{d / 'broken.jsonl'}", "--text-column", "text"],
            f"{d}/broken.jsonl:2: broken JSON line",
        ),
        (
            "prompts.build",
            ["--task", f"jsonl:{d / 'list.jsonl'}", "--text-column", "text"],
            f"{d}/list.jsonl:2: expected a JSON object",
        ),
        ("prompts.build", csv("latin.csv"), f"{d}/latin.csv:2: not valid UTF-8"),
        ("prompts.build", csv("tiny.csv"), f"csv file {d}/tiny.csv: label 'y' has 1 example(s)"),
        ("prompts.build", csv("emptytext.csv"), f"{d}/emptytext.csv:2: field 'review': empty text"),
        (
            "prompts.build",
            ["--task", f"csv:{d / 'missing.csv'}", "--text-column", "review"],
            f"{d}/missing.csv: no such file",
        ),
        (
            "prompts.build",
            ["--task", f"csv:{d / 'good.csv'}", "--text-column", "review", "--feature-columns", "id"],
            "task 'csv:",
        ),
        ("sft.train", ["lerning_rate=0.1"], "command line: unknown config key 'lerning_rate'"),
        ("sft.train", ["learning_rate=1e-4"], "command line: unknown config key 'learning_rate'; did you mean 'lr'?"),
        ("sft.train", ["method=dora"], "method 'dora' is not one of"),
        ("sft.train", ["preset=cpu-fats"], "unknown preset 'cpu-fats'; did you mean 'cpu-fast'?"),
        ("sft.train", ["precision=fp8"], "precision 'fp8' is not one of"),
        ("sft.train", ["train_sampling=random"], "train_sampling 'random' is not one of first, leaf-topup"),
        ("sft.train", ["batch_size=0"], "config key 'batch_size' must be a positive integer"),
        ("sft.train", ["lr=fast"], "command line: 'lr' must be a number, got 'fast'"),
        ("sft.train", ["epochs"], "override 'epochs': expected key=value"),
        ("sft.train", ["--config", str(d / "nope.yaml")], f"{d}/nope.yaml: no such config file"),
        ("sft.train", ["--config", str(d / "bad.yaml")], f"{d}/bad.yaml:"),
        ("sft.train", ["--config", str(d / "list.yaml")], f"{d}/list.yaml"),
        ("sft.train", ["--config", str(d / "typo.yaml")], f"{d}/typo.yaml: unknown config key 'lerning_rate'"),
        ("sft.train", train("model=nobody/no-such-model"), "model 'nobody/no-such-model' is not packaged"),
        ("sft.train", train("task_options.label_column=stars"), f"{d}/good.csv:2: field 'stars': missing"),
        ("sft.train", ["task=csv:" + str(d / "good.csv")], "task 'csv:"),
        ("sft.experiment", ["--experiment", "defualt"], "unknown experiment 'defualt'"),
        (
            "sft.experiment",
            ["--experiment", str(d / "exp_badkey.yaml")],
            f"{d}/exp_badkey.yaml: unknown key(s) ['runz']",
        ),
        (
            "sft.experiment",
            ["--experiment", str(d / "exp_nomodel.yaml")],
            f"{d}/exp_nomodel.yaml: runs[1]: expected a mapping",
        ),
        ("sft.experiment", ["--experiment", str(d / "exp_noruns.yaml")], f"{d}/exp_noruns.yaml: no runs listed"),
        ("bench.run", ["--modes", "score,guess"], "--modes: unknown mode 'guess'"),
        ("bench.run", ["--experiment", "nope"], "unknown experiment 'nope'"),
    ]


def test_every_malformed_input_gets_its_error_and_exit_2(workspace, capsys):
    folder, results = workspace
    all_cases = cases(folder)
    assert len({(m, tuple(a)) for m, a, _ in all_cases}) >= 30
    before = results_snapshot(results)
    failures = []
    for module, argv, expected in all_cases:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(importlib.import_module(module).main, argv)
        err = capsys.readouterr().err
        if (
            exit_info.value.code != 2
            or not err.startswith(f"error: {expected}")
            or err.count("\n") != 1
            or "Traceback" in err
        ):
            failures.append((module, argv, exit_info.value.code, err))
        assert results_snapshot(results) == before, f"{module} {argv} changed results/"
    assert not failures, "\n".join(map(str, failures))


def test_debug_shows_the_traceback(workspace):
    with pytest.raises(UserError):
        run_cli(train_main, ["method=dora", "--debug"])
