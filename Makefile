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
STEP_BUDGETS ?=
DATA_DIR ?=
OVERWRITE ?=
ALLOW_PLACEHOLDERS ?=
FRACTION ?= 0.05
SPACE ?=
REFERENCE ?=
MEASURED ?= out/measured.json
PROBES ?= out/velo_probes.json
TRANSFERRED ?= out/budgets.json
# make step-prompt's destination: untracked, read by the study before tuning_search_spaces/
SPACES ?= out/tuning_search_spaces
# The default lists come from the one registry, bench_core/catalogue.py (standard library
# only, so the base interpreter reads it before .venv exists); `?=` expands them only where used
catalogue = $(shell $(PYTHON) -m bench_core.catalogue --list $(1))
ALGORITHMS ?= $(call catalogue,hand_crafted)
WORKLOADS ?= $(call catalogue,embedded)
STUDIES ?= 3
CONDITIONS ?= $(call catalogue,conditions)
JOBS ?= 1
# $(call q,VALUE): VALUE as one shell word (single-quoted), so that paths with spaces or
# quotes reach the Python entry points unchanged
q = '$(subst ','\'',$(1))'
# The official AlgoPerf, for make install-algoperf / test-official (a checkout or source archive)
ALGOPERF_SRC ?= $(firstword $(wildcard ../shared/algoperf/algorithmic-efficiency-*.tar.gz))
ALGOPERF_VENV ?= .venv-algoperf
# AlgoPerf alone, without this project: where the exported submissions are tested
ALGOPERF_PLAIN_VENV ?= .venv-algoperf-plain

.PHONY: install install-algoperf install-algoperf-plain test test-slow test-slurm test-official test-smoke submit export sweep smoke demo demo-readme demo-quick probe transfer step-prompt velo-weights report bench bench-readme lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Two pytest workers (pytest-xdist): the suite's reference machine has 2 cores.
test: $(STAMP)
	$(PY) -m pytest -q -rs -n 2

test-slow: $(STAMP)
	$(PY) -m pytest -q -rs -m slow

## an environment with the official AlgoPerf (from ALGOPERF_SRC) and this project, built once
install-algoperf:
	@test -n "$(ALGOPERF_SRC)" || { echo "error: give ALGOPERF_SRC=<AlgoPerf checkout or source archive>"; exit 2; }
	ALGOPERF_SRC="$(ALGOPERF_SRC)" ALGOPERF_VENV="$(ALGOPERF_VENV)" bash tools/install_algoperf.sh

## a second environment with AlgoPerf only (no velo-bench), built once: the exported folders
## run there as an AlgoPerf user runs them
install-algoperf-plain:
	@test -n "$(ALGOPERF_SRC)" || { echo "error: give ALGOPERF_SRC=<AlgoPerf checkout or source archive>"; exit 2; }
	ALGOPERF_SRC="$(ALGOPERF_SRC)" ALGOPERF_VENV="$(ALGOPERF_PLAIN_VENV)" ALGOPERF_PLAIN=1 \
	  bash tools/install_algoperf.sh

## the tests marked algoperf, against the real submission_runner and AlgoPerf's scoring code
## (one shell: an "exit 0" on a recipe line of its own would not stop the lines after it)
test-official:
	@if [ -z "$(ALGOPERF_SRC)" ] && [ ! -f "$(ALGOPERF_VENV)/.algoperf-installed" ]; then \
	  echo "test-official: skipped: no AlgoPerf source (set ALGOPERF_SRC=<checkout or archive>)"; \
	  exit 0; fi; \
	if [ -n "$(ALGOPERF_SRC)" ]; then $(MAKE) --no-print-directory install-algoperf || exit $$?; \
	  $(MAKE) --no-print-directory install-algoperf-plain || exit $$?; fi; \
	if [ -f "$(ALGOPERF_PLAIN_VENV)/.algoperf-installed" ]; then \
	  export ALGOPERF_PLAIN_PYTHON=$(abspath $(ALGOPERF_PLAIN_VENV))/bin/python; fi; \
	set -x; ALGOPERF_PYTHON=$(abspath $(ALGOPERF_VENV))/bin/python \
	  $(ALGOPERF_VENV)/bin/python -m pytest -q -p no:cacheprovider -m 'algoperf and not smoke' -rs \
	  --durations=0

## the 43 smoke runs CI leaves out (tests marked smoke): every submission but adam and velo on
## the six large real models, and all but velo on the full criteo1tb (34 min on 2 idle cores)
test-smoke: install-algoperf
	ALGOPERF_PYTHON=$(abspath $(ALGOPERF_VENV))/bin/python \
	  $(ALGOPERF_VENV)/bin/python -m pytest -q -p no:cacheprovider -m smoke -rs --durations=0

## the SLURM array job on a throwaway one-node cluster (a few minutes; root, Debian's slurm-wlm
## and munge; skipped with the reason where they are missing)
test-slurm: $(STAMP)
	$(PY) -m pytest -q -rs -m slurm --durations=0

STUDY_FLAGS = $(if $(BUDGETS),--budgets $(call q,$(BUDGETS))) \
  $(if $(STEP_BUDGETS),--step_budgets $(call q,$(STEP_BUDGETS))) \
  $(if $(DATA_DIR),--data_dir $(call q,$(DATA_DIR))) \
  $(if $(ALLOW_PLACEHOLDERS),--allow_placeholder_prompts)

## make submit OPT=nadamw WORKLOAD=imagenet_resnet_mini [EXP=dir] [CONTROL=time|step] [SEED=n]
##             [BUDGETS=budgets.json] [STEP_BUDGETS=steps.json] [DATA_DIR=dir] [OVERWRITE=1]
##             [ALLOW_PLACEHOLDERS=1]
submit: $(STAMP)
	$(PY) -m study.submit --opt $(call q,$(OPT)) --workload $(call q,$(WORKLOAD)) \
	  --experiment_dir $(call q,$(EXP)) --condition $(call q,$(CONTROL)) --seed $(call q,$(SEED)) \
	  $(STUDY_FLAGS) $(if $(OVERWRITE),--overwrite)

## make export OUT=dir [OPT="adam velo"] [WORKLOAD=mnist] [CONTROL=time|step] [STEP_BUDGETS=f]
##             [ALLOW_PLACEHOLDERS=1] [OVERWRITE=1]: each submission (default: all) as a
##             self-contained AlgoPerf submission folder OUT/<name>/ (docs/export.md)
export: $(STAMP)
	@test -n "$(OUT)" || { echo "error: give OUT=<folder>, e.g. OUT=<algoperf>/submissions/external_tuning"; exit 2; }
	$(PY) -m submissions.export --out $(OUT) --condition $(CONTROL) \
	  $(if $(filter command line environment,$(origin OPT)),--opt $(OPT)) \
	  $(if $(filter command line environment,$(origin WORKLOAD)),--workload $(WORKLOAD)) \
	  $(if $(STEP_BUDGETS),--step_budgets $(STEP_BUDGETS)) \
	  $(if $(ALLOW_PLACEHOLDERS),--allow_placeholder_prompts) $(if $(OVERWRITE),--overwrite)

## make sweep ALGORITHMS="..." WORKLOADS="..." STUDIES=3 CONDITIONS="time step" EXP=dir [JOBS=n]
##            [BUDGETS=budgets.json] [STEP_BUDGETS=steps.json] [DATA_DIR=dir] [ALLOW_PLACEHOLDERS=1]
sweep: $(STAMP)
	$(PY) -m study.sweep --algorithms $(ALGORITHMS) --workloads $(WORKLOADS) \
	  --studies $(call q,$(STUDIES)) --conditions $(CONDITIONS) --experiment_dir $(call q,$(EXP)) \
	  --jobs $(call q,$(JOBS)) \
	  $(STUDY_FLAGS)

## make smoke [OPT=velo|all] [WORKLOAD=wmt|all] [STEPS=3] [BATCH=n] [VELO_CHECKPOINT=path]:
## a few update_params calls of each submission on AlgoPerf's real models, fake batches, no
## data; a table of step times, compilations, memory and state size (needs make install-algoperf)
SMOKE_OPT = $(if $(filter command line environment,$(origin OPT)),$(OPT),all)
SMOKE_WORKLOAD = $(if $(filter command line environment,$(origin WORKLOAD)),$(WORKLOAD),all)
STEPS ?= 3
BATCH ?=
smoke: $(STAMP)
	$(PY) -m study.smoke --opt $(SMOKE_OPT) --workload $(SMOKE_WORKLOAD) --steps $(STEPS) \
	  $(if $(BATCH),--batch_size $(BATCH)) $(if $(VELO_CHECKPOINT),--velo_checkpoint $(VELO_CHECKPOINT))

## the study on the four embedded workloads, 3 studies, both conditions, then the report
## (one trial per core, at most 2, each on a core of its own: time-control trials measure the
## machine, so they never share a core; JOBS=1 on a machine that also runs other work)
DEMO_JOBS = $(if $(filter command line environment,$(origin JOBS)),--jobs $(call q,$(JOBS)))
demo: $(STAMP)
	$(PY) -m study.demo --experiment_dir experiments/demo --report_dir reports/demo $(DEMO_JOBS)

## make demo, then rewrite the results block of docs/demo_results.md from its report
demo-readme: $(STAMP)
	$(PY) -m study.demo --experiment_dir experiments/demo --report_dir reports/demo $(DEMO_JOBS) \
	  --page docs/demo_results.md

## one workload, three algorithms, three studies (with two, the median of a hit and a miss is a
## miss), both conditions: 18 trials, about as many as the full demo's 120 / 6
demo-quick: $(STAMP)
	$(PY) -m study.demo --workloads imagenet_resnet_mini --studies 3 \
	  --algorithms adam nadamw nesterov \
	  --experiment_dir experiments/demo-quick --report_dir reports/demo-quick

## make probe OPT=heavy_ball WORKLOAD=... FRACTION=0.05 [SPACE=file.json] [AS_PROBE=1]: time a short run
probe: $(STAMP)
	$(PY) -m study.probe --opt $(call q,$(OPT)) --workload $(call q,$(WORKLOAD)) \
	  --fraction $(call q,$(FRACTION)) $(if $(SPACE),--tuning_search_space $(call q,$(SPACE))) \
	  $(if $(DATA_DIR),--data_dir $(call q,$(DATA_DIR))) \
	  $(if $(AS_PROBE),--as_probe --out $(call q,$(PROBES)),--out $(call q,$(MEASURED)))

## reference budgets -> budgets on this hardware [REFERENCE=table.json]
transfer: $(STAMP)
	$(PY) -m hardware_transfer.transfer --measured $(call q,$(MEASURED)) \
	  --out $(call q,$(TRANSFERRED)) $(if $(REFERENCE),--reference $(call q,$(REFERENCE)))

## VeLO's total_steps for both conditions into SPACES (default out/tuning_search_spaces,
## untracked, which the study reads first; SPACES=tuning_search_spaces replaces the tracked ones)
step-prompt: $(STAMP)
	$(PY) -m hardware_transfer.step_prompt --budgets $(call q,$(TRANSFERRED)) \
	  --probes $(call q,$(PROBES)) --out_dir $(call q,$(SPACES))
	$(PY) -m hardware_transfer.step_prompt --condition step --out_dir $(call q,$(SPACES)/step)

## download the released VeLO checkpoint into the per-user cache (or OUT=path)
velo-weights: $(STAMP)
	$(PY) -m velo.download $(if $(OUT),--out $(call q,$(OUT)))

## make report EXP=experiments [CONTROL=time|step] [REPORT=reports/time]
report: $(STAMP)
	$(PY) -m scoring_ext.report --experiment_dir $(call q,$(EXP)/$(CONTROL)) \
	  --condition $(call q,$(CONTROL)) --out $(call q,$(if $(REPORT),$(REPORT),reports/$(CONTROL)))

## speed ratios against baselines timed in the same run; no VeLO checkpoint needed
bench: $(STAMP)
	$(PY) benchmarks/optimizer_bench.py
	$(PY) benchmarks/velo_bench.py
	$(PY) benchmarks/scoring_bench.py
	$(PY) benchmarks/init_memory_bench.py
	$(PY) benchmarks/setup_bench.py

## make bench's VeLO part, then rewrite the velo-bench block of docs/velo_cost.md from its output
bench-readme: $(STAMP)
	$(PY) benchmarks/velo_bench.py --page docs/velo_cost.md

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
