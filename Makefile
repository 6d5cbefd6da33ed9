# One entry point for humans and CI. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: help install run test test-cpu test-wait lint typecheck unit integration e2e soak package runtime-python bench clean checkov-venv

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# The console's browser test (tests/e2e/test_console_browser.py) drives Debian's Chromium through Playwright, never a
# browser Playwright downloads: the stamp is the binary itself, installed with apt-get when it is missing.
BROWSER_STAMP := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# uv installs the pinned dependencies in seconds where pip took about a minute of CPU (make test's budget is 10 minutes);
# pip only bootstraps uv itself into each venv. Bytecode is compiled at install, as pip does: otherwise every test
# worker and every local server the tests start would compile moto and botocore again on its first import.
UV_VERSION := 0.13.9

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned dependencies

# checkov pins an old boto3, so it lives in a venv of its own.
$(CHECKOV_STAMP): tools/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(CHECKOV_VENV)/bin/uv pip install --compile-bytecode --python $(CHECKOV_VENV)/bin/python -r tools/checkov-requirements.txt
	touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP)

$(BROWSER_STAMP):
	@echo "$(BROWSER_STAMP) is missing: installing Debian's chromium for the console's browser test"
	@{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; } \
	  || { echo "error: could not install chromium with apt-get; install it (apt-get install chromium) so that $(BROWSER_STAMP) exists, then run make again" >&2; exit 1; }
	@test -x $(BROWSER_STAMP) || { echo "error: chromium installed, but $(BROWSER_STAMP) is still missing" >&2; exit 1; }

# The Lambda runtime's interpreter (CPython 3.13 from Debian trixie, via apt): it compiles the zips' bytecode and the
# bench imports them with it. tools/package.py fetches it too when it is missing; this stamp only saves the check.
RUNTIME_PYTHON_STAMP := .cache/python3.13/bin/python3.13

$(RUNTIME_PYTHON_STAMP): $(STAMP) tools/runtime_python.py
	$(BIN)/python tools/runtime_python.py --refresh
	touch $(RUNTIME_PYTHON_STAMP)

runtime-python: $(RUNTIME_PYTHON_STAMP) ## fetch the Lambda runtime's python3.13 into .cache/python3.13/ (Debian trixie, via apt)

ARCH ?= arm64
package: $(STAMP) $(RUNTIME_PYTHON_STAMP) ## build one reproducible zip per Lambda into build/$(ARCH)/ (Lambda python3.13, with bytecode; ARCH=arm64|x86_64, as lambda_architecture)
	$(BIN)/python tools/package.py --arch $(ARCH)

run: $(STAMP) ## serve the whole pipeline locally on http://$(HOST):$(PORT) (embedded AWS emulator)
	$(BIN)/debouncer serve --host $(HOST) --port $(PORT)

lint: $(STAMP) ## ruff (lint + format check) and the architecture's import contracts (import-linter, pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP) ## mypy --strict on the core
	$(BIN)/mypy

# Two halves run at once (make test runs both): the CPU-bound suites (Terraform plans, packaging, property tests) on
# as many workers as cores, and the suites that mostly wait (real debounce windows, Step Functions Waits, load
# ramps) on more workers than cores, since a waiting test costs no CPU. Each half prints when it ends (make -O).
# Extra pytest arguments for both: `make test PYTEST_ARGS="--durations=30"`.
CPU_SUITES  := tests/unit tests/terraform tests/packaging tests/fuzz
WAIT_SUITES := tests/reliability tests/e2e tests/integration
CPU_WORKERS  ?= 2
WAIT_WORKERS ?= 3
PYTEST_ARGS ?=

test: ## lint, type-check and run every test suite (two halves at once)
	@# The two venvs install, and lint and type-check run, side by side; then the two halves of the suites.
	$(MAKE) --no-print-directory -j2 lint typecheck $(CHECKOV_STAMP)
	$(MAKE) --no-print-directory -j2 -Otarget test-cpu test-wait

test-cpu: $(STAMP) $(CHECKOV_STAMP) ## the CPU-bound suites
	$(BIN)/python -m pytest -n $(CPU_WORKERS) --dist loadgroup -q $(PYTEST_ARGS) $(CPU_SUITES)

test-wait: $(STAMP) $(BROWSER_STAMP) ## the suites that wait on real time
	$(BIN)/python -m pytest -n $(WAIT_WORKERS) --dist loadgroup -q $(PYTEST_ARGS) $(WAIT_SUITES)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP) $(BROWSER_STAMP)
	$(BIN)/python -m pytest -q tests/e2e

soak: $(STAMP) ## the reliability and fuzz suites at their heavy profiles (larger counts, fresh seeds; minutes)
	RELIABILITY_PROFILE=heavy HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -n 2 --dist loadgroup -q tests/reliability tests/fuzz tests/e2e/test_concurrent_senders.py

bench: $(STAMP) $(RUNTIME_PYTHON_STAMP) ## one table of measured figures vs the naive design (calls, capacity, transitions, cost, latency, imports); also build/bench.json
	$(BIN)/python -m bench

clean: ## remove the venv and build outputs
	rm -rf $(VENV) $(CHECKOV_VENV) build .cache .pytest_cache .mypy_cache .ruff_cache
