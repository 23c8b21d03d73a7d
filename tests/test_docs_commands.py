"""Every command README.md and docs/ show in a ```bash block exists as shown: an `sftbench` line (bare, under
`.venv/bin/`, or after `accelerate launch ... -m sftbench`) parses with the command's own options, a `make`
target exists, a file a command names (a config, a script) is there, a `pip install -e '.[extra]'` names an
extra pyproject.toml has. Blocks marked `<!-- runnable -->` on the line above are run as written, offline, in
an isolated results folder."""

import re
import shlex
import subprocess
import sys

import click
import pytest
import tomllib

from sftbench.cli import cli
from tests.helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^(<!-- runnable -->\n)?```bash\n(.*?)^```", re.M | re.S)
NOT_CHECKED = ("git", "cd", "source", "mkdocs")  # other programs' commands, shown for the reader


def shown_commands() -> list[tuple[str, str, bool]]:
    """(page, command, runnable) for each command line of each bash block: continuation lines joined, comments
    dropped, `a && b` as two commands."""
    found = []
    for page in PAGES:
        for marker, body in BLOCK.findall(page.read_text()):
            for line in body.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                while words:
                    end = words.index("&&") if "&&" in words else len(words)
                    found.append((page.name, shlex.join(words[:end]), bool(marker)))
                    words = words[end + 1 :]
    return found


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))


def check_sftbench(args: list[str]) -> None:
    """Parse `sftbench ARGS` as click would run it, without running it."""
    with cli.make_context("sftbench", list(args), resilient_parsing=False) as context:
        name, command, rest = cli.resolve_command(context, context.protected_args + context.args)
        command.make_context(name, rest, parent=context)


def check(command: str) -> str:
    """What the command was checked as; raises where it does not exist as shown."""
    words = shlex.split(command)
    program = words[0].removeprefix(".venv/bin/")
    if program == "sftbench":
        check_sftbench(words[1:])
        return "sftbench"
    if program == "accelerate":
        assert words[1] == "launch" and "-m" in words, command
        if "--config_file" in words:
            assert (REPO / words[words.index("--config_file") + 1]).is_file(), command
        module = words.index("-m")
        assert words[module + 1] == "sftbench", command
        check_sftbench(words[module + 2 :])
        return "accelerate"
    if program == "make":
        targets = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
        assert set(targets) <= make_targets(), f"{command}: no such make target"
        return "make"
    if program == "pip" or words[:3] == [".venv/bin/python", "-m", "pip"]:
        extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        for word in words:
            if match := re.fullmatch(r"\.\[([\w,]+)\]", word):
                assert set(match.group(1).split(",")) <= set(extras), command
        return "pip"
    if program in ("python", "python3") and words[1].endswith(".py"):
        assert (REPO / words[1]).is_file(), command
        return "script"
    assert program in NOT_CHECKED, f"{command}: a command this test does not know how to check"
    return "shown"


def test_every_documented_command_exists_as_shown():
    commands = shown_commands()
    kinds = {}
    for page, command, _ in commands:
        try:
            kinds.setdefault(check(command), []).append(command)
        except (click.UsageError, click.BadParameter, AssertionError) as err:
            pytest.fail(f"{page}: `{command}` does not work as shown: {err}")
    assert len(commands) >= 40 and len(kinds["sftbench"]) >= 20, kinds.keys()
    print(f"{len(commands)} documented commands: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(kinds.items())))


def test_the_check_fails_on_a_command_that_does_not_exist():
    for wrong in (
        "sftbench trian-all",
        "sftbench bench --experimnet study",
        "sftbench bench --executor kubernetes",
        "make no-such-target",
        "accelerate launch --config_file configs/accelerate/none.yaml -m sftbench bench",
        "pip install -e '.[nothing]'",
    ):
        with pytest.raises((click.UsageError, click.BadParameter, AssertionError)):
            check(wrong)


def test_the_commands_marked_runnable_run_as_written(isolated_outputs):
    runnable = [(page, command) for page, command, marked in shown_commands() if marked]
    assert runnable, "no block is marked <!-- runnable -->"
    for page, command in runnable:
        words = shlex.split(command)
        program = words[0].removeprefix(".venv/bin/")
        assert program == "sftbench", f"{page}: only sftbench commands are marked runnable here: {command}"
        done = subprocess.run(
            [sys.executable, "-m", "sftbench", *words[1:]], cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{page}: `{command}` failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
