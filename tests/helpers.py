"""Helpers shared by the test modules (fixtures stay in conftest.py)."""

import os
import random
import subprocess
import sys
import traceback
from pathlib import Path

from click.testing import CliRunner

from prompts.build import build_task, load_split
from prompts.tasks import get_task
from sftbench.cli import cli

REPO = Path(__file__).resolve().parent.parent
# What a test of the machinery (resume, several processes, locks, the notebook), not of how well a model learns,
# trains SmolLM2 with: LoRA on its top 2 of 30 layers and sequences of at most 96 tokens, several times less
# work a step than the defaults (all layers, 256 tokens) on the same code path.
QUICK_LORA = ["lora_layers=2", "max_length=96"]


def mushroom_records(n: int, split: str = "test") -> list[dict]:
    """The first n records of a mushroom split (the task is built first, in the test's data folder)."""
    build_task(get_task("mushroom"))
    return load_split("mushroom", split)[:n]


def notes_experiment(folder: Path, overrides: str) -> tuple[Path, Path]:
    """A small two-label CSV task (48 notes) and an experiment training MiniLM on it: (csv path, experiment path)."""
    data = folder / "notes.csv"
    words = {"pos": ["great", "lovely", "superb", "fine"], "neg": ["awful", "dull", "poor", "bad"]}
    rows = "".join(f"a {w} note number {i},{label}\n" for label, ws in words.items() for w in ws for i in range(6))
    data.write_text("text,label\n" + rows)
    experiment = folder / "exp.yaml"
    experiment.write_text(
        f"name: t\ntasks: [{{task: 'csv:{data}', text_column: text}}]\nbench_limit: 0\nruns:\n"
        f"  - {{model: minilm-l6, method: full, overrides: {{{overrides}}}}}\n"
    )
    return data, experiment


def run_sftbench(
    command: str, *args: str, env: dict | None = None, timeout: int = 600, separate_process: bool = False
) -> subprocess.CompletedProcess:
    """Run `sftbench command args` as a user would, returning its exit code and output.

    In this process (click's CliRunner: the same `cli` object `python -m sftbench` calls, its stdout and stderr
    captured apart), which saves the 12-20 s every new process spends importing torch, transformers and TRL.
    `separate_process=True` runs `python -m sftbench` instead: for what only a new process shows (variables read
    when a library is imported, such as HF_HUB_OFFLINE or OMP_NUM_THREADS, and executors that start processes).
    `env` holds for the call only; so does the working directory (the repository); `timeout` bounds a separate
    process only."""
    if separate_process:
        return subprocess.run(
            [sys.executable, "-m", "sftbench", command, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    # the call's own variables (a results folder for this call, say) are set for it and put back after it; the
    # command itself writes none and puts back its logging set-up (sftbench_common/logs.py command_logging)
    given = {name: os.environ.get(name) for name in env or {}}
    saved_cwd, saved_argv = os.getcwd(), sys.argv
    try:
        os.environ.update(env or {})
        os.chdir(REPO)
        sys.argv = ["sftbench", command, *args]
        result = CliRunner().invoke(cli, [command, *args], prog_name="sftbench")
    finally:
        for name, value in given.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.chdir(saved_cwd)
        sys.argv = saved_argv
    stderr = result.stderr
    if result.exc_info and not isinstance(result.exception, SystemExit):  # a crash: its traceback, as Python prints
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["sftbench", command, *args], result.exit_code, result.stdout, stderr)


RST = """\
.. _writing-views:

=============
Writing views
=============

A view is a :class:`~django.http.HttpResponse` factory; see :doc:`the URL guide
</topics/http/urls>` and ``views.py``. Read `the forum`_ or Gunicorn_ docs.

.. toctree::
   :maxdepth: 2

   intro
   tutorial

.. note::

    Views live anywhere on your Python path.

Example::

    def current_datetime(request):
        return HttpResponse("now")

.. versionadded:: 5.0

.. _the forum: https://forum.djangoproject.com/
"""


def write_manual(folder, documents=24, seed=0):
    """A small synthetic manual: each page documents a few settings in the same house style."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    boilerplate = "This page is part of the Frobnicator manual. Report mistakes to the documentation team."
    for page in range(documents):
        lines = [f"Frobnicator module {page}", "=" * 20, "", boilerplate, ""]
        for _ in range(12):
            name, value = f"FROB_{rng.choice('ABCDEFGH')}{rng.randint(0, 99)}", rng.choice(["True", "False", "None"])
            lines += [
                f"The setting ``{name}`` controls the widget cache of module {page}. Its default is "
                f"``{value}``; set it to ``{value}`` in settings.py to keep the default behaviour.",
                "",
            ]
        (folder / f"page{page:02d}.{'rst' if page % 2 else 'md'}").write_text("\n".join(lines))
    return folder
