"""The Colab notebook, executed headless on CPU as a user would run it (all cells, in order), with the smoke
experiment instead of the colab one: install, plan, accelerate launch, bench, the table and figures inline."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import REPO

NOTEBOOK = REPO / "notebooks" / "sftbench_colab.ipynb"
SMOKE = 'EXPERIMENT = "smoke"\nRESULTS_ON_DRIVE = False\nMEASURE_PLAN = False\n'


def outputs_of(cell) -> str:
    return "".join(
        o.get("text", "") + "".join(str(v) for k, v in o.get("data", {}).items() if k.startswith("text/"))
        for o in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_colab_notebook_runs_headless_with_the_smoke_experiment(isolated_outputs):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    # as papermill does: a cell after the parameters cell overrides them
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(SMOKE))
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()

    printed = "\n".join(outputs_of(c) for c in notebook.cells if c.cell_type == "code")
    assert f"results: {isolated_outputs / 'results'}" in printed
    assert "| run | examples | tokens | steps |" in printed  # the plan
    assert printed.count("run finished") == 2
    assert "bench 'smoke'" in printed
    run_json = isolated_outputs / "results" / "runs" / "mushroom" / "smollm2-135m-instruct-lora" / "run.json"
    assert '"status": "finished"' in run_json.read_text()
    shown = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "display_data"]
    tables = [o for o in shown if "text/markdown" in o["data"] and "| Model | State |" in o["data"]["text/markdown"]]
    images = [o for o in shown if "image/png" in o["data"]]
    assert len(tables) == 1
    # a confusion heatmap per model family and the loss curves of mushroom
    names = [o["data"]["text/markdown"] for o in shown if o["data"].get("text/markdown", "").endswith(".png**")]
    assert any("loss_curves.png" in n for n in names) and any("confusion_smollm2" in n for n in names)
    assert len(images) == len(names) >= 3
