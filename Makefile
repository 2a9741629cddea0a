# portraitkit: `make demo` sets up and runs the whole pipeline on built-in demo data;
# `make test` sets up and runs the test suite. Both are safe to re-run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export FIFTYONE_DO_NOT_TRACK := true

.PHONY: setup demo test test-fast browser bench clean-data help

help:
	@echo "make demo   - set up, then run the DVC pipeline on the built-in demo data"
	@echo "make test   - set up (incl. Debian chromium for browser tests), then run the tests"
	@echo "make bench  - run the benchmarks in bench/"

setup: $(VENV)/.installed

# Install order matters (see requirements.lock): torch's CPU wheel by exact pin first, so no resolver
# ever picks a CUDA build; then the whole lock without resolving (--no-deps), because the export stack
# (litert's xdsl: typing-extensions < 4.13) and FiftyOne (>= 4.14) cannot be resolved together; then
# the project itself, again without deps. `pip check` must report nothing but that one xdsl line.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==25.3 wheel==0.45.1 setuptools==80.9.0
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check | grep -v '^xdsl .* typing-extensions' | grep . && exit 1 || true
	touch $@

demo: setup
	$(BIN)/dvc repro
	@echo "report: data/report/site/index.html   (review: portraitkit review app)"

# Debian's chromium drives the browser tests (the report and the FiftyOne App).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium (sudo apt-get install chromium) for the browser tests"; fi; }

test: setup browser
	$(BIN)/python -m pytest -n 2 -q -rs -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not browser and not mongo"

bench: setup
	$(BIN)/python bench/curate_scale.py
	$(BIN)/python bench/flag_quality.py
	$(BIN)/python bench/flag_speed.py
	$(BIN)/python bench/clicks_speed.py
	$(BIN)/python bench/clicks_noc.py
	$(BIN)/python bench/augment_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/export_latency.py
	$(BIN)/python bench/train_real_portraits.py

clean-data:
	rm -rf data
