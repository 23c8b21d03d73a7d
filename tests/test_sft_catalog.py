"""What a user can name: `sftbench list` prints the registries, and every model, task, preset, method and
experiment name any `--help` offers is one the code accepts."""

import re

from click.testing import CliRunner

from sft.catalog import CATALOG
from sft.config import METHODS
from sftbench.cli import cli

PLACEHOLDER = re.compile(r"^(csv|jsonl|domain|hub):[A-Z.]+$|^[A-Z]+$")  # csv:PATH, hub:DATASET, TEXT


def help_texts() -> str:
    runner = CliRunner()
    texts = [runner.invoke(cli, ["--help"]).output]
    texts += [runner.invoke(cli, [name, "--help"]).output for name in cli.commands]
    return "\n".join(texts)


def offered(text: str, key: str) -> set[str]:
    """The names a help text offers for `key=`: `key=a | b | c` lists and `key=a` examples."""
    names = set()
    for match in re.finditer(rf"\b{key}=([\w./:-]+(?: \| [\w./:-]+)*)", text):
        names |= {name.strip() for name in match.group(1).split(" | ")}
    names = {n.rstrip(".:") for n in names} - {"a", "", "..."}  # "| a local folder", "| ..."
    return {n for n in names if not PLACEHOLDER.match(n)}


def test_every_name_a_help_offers_exists():
    text = help_texts()
    known = {kind: {name for name, _ in entries()} for kind, entries in CATALOG.items()}
    models, tasks, presets = offered(text, "model"), offered(text, "task"), offered(text, "preset")
    assert models and models <= known["models"], models - known["models"]
    assert tasks and tasks - {"csv:reviews.csv"} <= known["tasks"], tasks - known["tasks"]
    assert presets and presets <= known["presets"], presets - known["presets"]
    assert offered(text, "method") <= set(METHODS)
    experiments = {e for e in re.findall(r"--experiment[ =]([\w./-]+)", text) if not PLACEHOLDER.match(e)}
    assert experiments and experiments <= known["experiments"], experiments - known["experiments"]
    listed = {t for found in re.findall(r"--tasks[ =]([\w.,-]+)", text) for t in found.split(",")} - {"TEXT"}
    assert listed and listed <= known["tasks"], listed - known["tasks"]
    # the test can fail: a name that is not registered is caught
    assert offered("model=gemma-3-270m | minilm-l6", "model") - known["models"] == {"gemma-3-270m"}


def test_sftbench_list_prints_every_registered_name():
    done = CliRunner().invoke(cli, ["list"])
    assert done.exit_code == 0, done.output
    for kind, entries in CATALOG.items():
        assert f"{kind}:\n" in done.output
        for name, about in entries():
            assert re.search(rf"^  {re.escape(name)} +{re.escape(about)}$", done.output, re.M), name
    assert "smollm2-135m-instruct" in done.output and "csv:PATH" in done.output and "cpu-fast" in done.output
    only = CliRunner().invoke(cli, ["list", "presets"])
    assert only.exit_code == 0 and "models:" not in only.output and "cpu-fast" in only.output
