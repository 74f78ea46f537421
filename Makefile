# Every target creates and uses the project virtualenv by itself: on a fresh clone
# `make test` or `make demo` is the only command needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

OPT ?= nadamw
WORKLOAD ?= imagenet_resnet_mini
EXP ?= experiments
CONTROL ?= time
SEED ?= 1
BUDGETS ?=

.PHONY: install test test-slow submit bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

submit: $(STAMP)
	$(PY) -m local_runner.submit --opt $(OPT) --workload $(WORKLOAD) --experiment_dir $(EXP) \
	  --condition $(CONTROL) --seed $(SEED) $(if $(BUDGETS),--budgets $(BUDGETS))

bench: $(STAMP)
	$(PY) benchmarks/optimizer_bench.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
