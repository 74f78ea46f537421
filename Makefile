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
FRACTION ?= 0.05
SPACE ?= tuning_search_spaces/$(OPT).json
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

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

## make submit OPT=nadamw WORKLOAD=imagenet_resnet_mini [EXP=dir] [CONTROL=time|step] [SEED=n] [BUDGETS=budgets.json]
submit: $(STAMP)
	$(PY) -m local_runner.submit --opt $(OPT) --workload $(WORKLOAD) --experiment_dir $(EXP) \
	  --condition $(CONTROL) --seed $(SEED) $(if $(BUDGETS),--budgets $(BUDGETS))

## make sweep ALGORITHMS="..." WORKLOADS="..." STUDIES=3 CONDITIONS="time step" EXP=dir [JOBS=n]
sweep: $(STAMP)
	$(PY) -m local_runner.sweep --algorithms $(ALGORITHMS) --workloads $(WORKLOADS) \
	  --studies $(STUDIES) --conditions $(CONDITIONS) --experiment_dir $(EXP) --jobs $(JOBS) \
	  $(if $(BUDGETS),--budgets $(BUDGETS))

## the study on the four embedded workloads, 3 studies, both conditions, then the report
demo: $(STAMP)
	$(PY) -m local_runner.demo --experiment_dir experiments/demo --report_dir reports/demo

## make demo, then rewrite the README's results section from its report
demo-readme: $(STAMP)
	$(PY) -m local_runner.demo --experiment_dir experiments/demo --report_dir reports/demo --readme README.md

## one workload, two studies
demo-quick: $(STAMP)
	$(PY) -m local_runner.demo --workloads imagenet_resnet_mini --studies 2 \
	  --experiment_dir experiments/demo-quick --report_dir reports/demo-quick

## make probe OPT=heavy_ball WORKLOAD=... FRACTION=0.05 [AS_PROBE=1]: time a short run
probe: $(STAMP)
	$(PY) -m hardware_transfer.probe --submission_path submissions/$(OPT)/submission.py \
	  --tuning_search_space $(SPACE) --workload $(WORKLOAD) --fraction $(FRACTION) \
	  $(if $(AS_PROBE),--as_probe --out $(PROBES),--out $(MEASURED))

## reference budgets -> budgets on this hardware
transfer: $(STAMP)
	$(PY) -m hardware_transfer.transfer --measured $(MEASURED) --out $(TRANSFERRED)

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
