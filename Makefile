# Two commands from a fresh clone:
#   make test       the notebooks' tests, then the test suite (what CI runs)
#   make pipeline   the main job: SFT -> reward model -> RL -> evaluation, report under runs/
# Each creates the virtual environment $(VENV) (default .venv) or reuses it, installing what is missing:
# the CPU torch wheel first (installing the package first would pull a multi-GB CUDA torch), then the
# package with its dev extras. Re-installs when settings.ini or setup.py change.
#   make test VENV=/tmp/ci-venv           another environment (CI uses a fresh one)
#   make pipeline ARGS="-p sft_steps 50"   job parameters

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
ARGS ?=
INSTALLED := $(VENV)/.rlhf_summ-installed
ACTIVATE := . $(VENV)/bin/activate &&
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: install test pipeline

install: $(INSTALLED)

$(INSTALLED): settings.ini setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(ACTIVATE) pip install $(TORCH)
	$(ACTIVATE) pip install -e ".[dev]"
	touch $@

test: $(INSTALLED)
	$(ACTIVATE) nbdev_test --n_workers 2 && pytest -q tests

pipeline: $(INSTALLED)
	$(ACTIVATE) rlhf-summ run pipeline $(ARGS)
