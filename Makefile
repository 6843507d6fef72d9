# Policy Desktop: `make run` launches the app, `make test` runs every test.
# Both set everything up first (virtual environment, dependencies) and are idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.policy-desktop-installed
# This machine keeps a CPU build of torch on disk; an unpinned torch pulls ~3 GB of CUDA
# wheels. On the Jetson Thor install NVIDIA's torch first and pass TORCH_SPEC= (empty).
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test setup lint bench system-test-deps llama-server

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile packaging/build_llama_cpp.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ] && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		$(BIN)/python -m pip install "$(TORCH_SPEC)"; fi
	@# llama.cpp without -march=native (AMX faults in VMs), cached under a key of its flags.
	$(PYTHON) packaging/build_llama_cpp.py --python $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	@# A short decode in a child process: a build that crashes stops the setup here.
	$(BIN)/python -m policy_desktop.engine.selfcheck
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/policy-desktop

# The store suite on a throw-away PostgreSQL server first, then every test on SQLite.
test: $(STAMP) system-test-deps llama-server
	tools/test_on_postgres.sh $(BIN)/python -q
	$(BIN)/python -m pytest

# ruff, the layer contracts (import-linter) and mypy.
lint: $(STAMP)
	$(BIN)/ruff check policy_desktop tests benchmarks packaging tools
	$(BIN)/lint-imports
	$(BIN)/mypy

# llama.cpp's own server for `policy-desktop serve-model` and the parallel-slot tests,
# from the pinned release's vendored source with the same portable switches (cached).
llama-server: $(STAMP)
	$(PYTHON) packaging/build_llama_server.py --python $(BIN)/python

bench: $(STAMP)
	for bench in benchmarks/bench_*.py; do $(BIN)/python $$bench || exit 1; done

# Validators used by the packaging tests (Debian packages; skipped when already there).
system-test-deps:
	@if ! command -v desktop-file-validate >/dev/null || ! command -v appstreamcli >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq desktop-file-utils appstream >/dev/null; \
		else echo "note: install desktop-file-utils and appstream to validate packaging files"; fi; \
	fi
