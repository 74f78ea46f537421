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
DATA_DIR ?=
OVERWRITE ?=
ALLOW_PLACEHOLDERS ?=
FRACTION ?= 0.05
SPACE ?=
REFERENCE ?=
MEASURED ?= out/measured.json
PROBES ?= out/velo_probes.json
TRANSFERRED ?= out/budgets.json
SPACES ?= tuning_search_spaces
ALGORITHMS ?= adam nadam nadamw heavy_ball nesterov
WORKLOADS ?= criteo1tb_mini fastmri_mini imagenet_resnet_mini ogbg_mini
STUDIES ?= 3
CONDITIONS ?= time step
JOBS ?= 1

.PHONY: install test test-slow submit sweep demo demo-readme demo-quick probe transfer step-prompt velo-weights report bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Two pytest workers (pytest-xdist): the suite's reference machine has 2 cores.
test: $(STAMP)
	$(PY) -m pytest -q -n 2

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

STUDY_FLAGS = $(if $(BUDGETS),--budgets $(BUDGETS)) $(if $(DATA_DIR),--data_dir $(DATA_DIR)) \
  $(if $(ALLOW_PLACEHOLDERS),--allow_placeholder_prompts)

## make submit OPT=nadamw WORKLOAD=imagenet_resnet_mini [EXP=dir] [CONTROL=time|step] [SEED=n]
##             [BUDGETS=budgets.json] [DATA_DIR=dir] [OVERWRITE=1] [ALLOW_PLACEHOLDERS=1]
submit: $(STAMP)
	$(PY) -m study.submit --opt $(OPT) --workload $(WORKLOAD) --experiment_dir $(EXP) \
	  --condition $(CONTROL) --seed $(SEED) $(STUDY_FLAGS) $(if $(OVERWRITE),--overwrite)

## make sweep ALGORITHMS="..." WORKLOADS="..." STUDIES=3 CONDITIONS="time step" EXP=dir [JOBS=n]
##            [BUDGETS=budgets.json] [DATA_DIR=dir] [ALLOW_PLACEHOLDERS=1]
sweep: $(STAMP)
	$(PY) -m study.sweep --algorithms $(ALGORITHMS) --workloads $(WORKLOADS) \
	  --studies $(STUDIES) --conditions $(CONDITIONS) --experiment_dir $(EXP) --jobs $(JOBS) \
	  $(STUDY_FLAGS)

## the study on the four embedded workloads, 3 studies, both conditions, then the report
demo: $(STAMP)
	$(PY) -m study.demo --experiment_dir experiments/demo --report_dir reports/demo

## make demo, then rewrite the README's results section from its report
demo-readme: $(STAMP)
	$(PY) -m study.demo --experiment_dir experiments/demo --report_dir reports/demo --readme README.md

## one workload, two studies
demo-quick: $(STAMP)
	$(PY) -m study.demo --workloads imagenet_resnet_mini --studies 2 \
	  --experiment_dir experiments/demo-quick --report_dir reports/demo-quick

## make probe OPT=heavy_ball WORKLOAD=... FRACTION=0.05 [SPACE=file.json] [AS_PROBE=1]: time a short run
probe: $(STAMP)
	$(PY) -m study.probe --opt $(OPT) --workload $(WORKLOAD) --fraction $(FRACTION) \
	  $(if $(SPACE),--tuning_search_space $(SPACE)) $(if $(DATA_DIR),--data_dir $(DATA_DIR)) \
	  $(if $(AS_PROBE),--as_probe --out $(PROBES),--out $(MEASURED))

## reference budgets -> budgets on this hardware [REFERENCE=table.json]
transfer: $(STAMP)
	$(PY) -m hardware_transfer.transfer --measured $(MEASURED) --out $(TRANSFERRED) \
	  $(if $(REFERENCE),--reference $(REFERENCE))

## VeLO's total_steps for both conditions into SPACES
step-prompt: $(STAMP)
	$(PY) -m hardware_transfer.step_prompt --budgets $(TRANSFERRED) --probes $(PROBES) --out_dir $(SPACES)
	$(PY) -m hardware_transfer.step_prompt --condition step --out_dir $(SPACES)/step

## download the released VeLO checkpoint into the per-user cache (or OUT=path)
velo-weights: $(STAMP)
	$(PY) -m velo.download $(if $(OUT),--out $(OUT))

## make report EXP=experiments [CONTROL=time|step] [REPORT=reports/time]
report: $(STAMP)
	$(PY) -m scoring_ext.report --experiment_dir $(EXP)/$(CONTROL) --condition $(CONTROL) \
	  --out $(if $(REPORT),$(REPORT),reports/$(CONTROL))

bench: $(STAMP)
	$(PY) benchmarks/optimizer_bench.py
	$(PY) benchmarks/velo_bench.py
	$(PY) benchmarks/scoring_bench.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
