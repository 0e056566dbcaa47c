# Two commands from a fresh clone:
#   make test       the notebooks' tests, then the test suite (what CI runs)
#   make pipeline   the main job: SFT -> reward model -> RL -> evaluation, report under runs/
# Each creates the virtual environment $(VENV) (default .venv) or reuses it, installing what is missing:
# the CPU torch wheel first (installing the package first would pull a multi-GB CUDA torch), then the
# package with its dev extras. Installs only when the environment's installed package differs from this clone's
# settings.ini (version, requirements, an editable install of this folder): .ci/installed.py compares them.
#   make test VENV=/tmp/ci-venv           another environment (CI uses a fresh one)
#   make pipeline ARGS="-p sft_steps 50"   job parameters

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
ARGS ?=
ACTIVATE := . $(VENV)/bin/activate &&
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: install test pipeline

install:
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python .ci/installed.py || { $(ACTIVATE) pip install $(TORCH) && $(ACTIVATE) pip install -e ".[dev]"; }

test: install
	$(ACTIVATE) nbdev_test --n_workers 2 && pytest -q tests

pipeline: install
	$(ACTIVATE) rlhf-summ run pipeline $(ARGS)
