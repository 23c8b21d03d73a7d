"""`make paper`: the report folder from results/ files alone, byte-identical when built twice, and a PDF whose
text holds the table's numbers (compiled where LaTeX is installed: `make install` installs it as root, as in CI)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import notes_experiment, run_sftbench


def test_paper_from_a_small_experiment(isolated_outputs, tmp_path):
    _, experiment = notes_experiment(
        tmp_path,
        "epochs: 2, batch_size: 8, lr: 0.0003, max_length: 32, eval_limit: 4, save_steps: 100, logging_steps: 2",
    )
    for command in ("train-all", "bench"):
        done = run_sftbench(command, "--experiment", str(experiment))
        assert done.returncode == 0, done.stderr[-3000:]
    results = Path(os.environ["SFTBENCH_RESULTS"])
    first = run_sftbench("paper", "--no-pdf")
    assert first.returncode == 0, first.stderr[-3000:]
    tex = (results / "report" / "report.tex").read_bytes()
    assert run_sftbench("paper", "--no-pdf").returncode == 0
    assert (results / "report" / "report.tex").read_bytes() == tex  # numbers from files only, nothing time-stamped
    text = tex.decode()
    tuned = json.loads((results / "notes" / "rows" / "minilm-l6-full.head.json").read_text())
    accuracy = f"{tuned['metrics']['accuracy']:.3f}"
    low, high = (f"{b:.3f}" for b in tuned["intervals"]["accuracy"])
    assert f"accuracy {accuracy} [{low}, {high}]" in text  # the abstract, from the row file
    assert "sentence-transformers/all-MiniLM-L6-v2" in text and "To be written by the author" in text
    table = (results / "report" / "tables" / "notes.tex").read_text()
    assert f"{accuracy} & {low} & {high}" in table and r"\toprule" in table
    assert (results / "report" / "figures" / "notes_loss_curves.png").is_file()

    if not shutil.which("latexmk"):
        if os.environ.get("CI"):
            pytest.fail("LaTeX is missing in CI: `make install` installs texlive-latex-recommended and latexmk as root")
        pytest.skip("LaTeX is not installed here (make install installs it where it runs as root)")
    compiled = run_sftbench("paper")
    assert compiled.returncode == 0, compiled.stdout[-3000:] + compiled.stderr[-3000:]
    pdf_text = subprocess.run(
        ["pdftotext", "-layout", str(results / "report" / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert accuracy in pdf_text and low in pdf_text and high in pdf_text and "Reproducibility" in pdf_text
    assert "Overfull" not in (results / "report" / "report.log").read_text()
