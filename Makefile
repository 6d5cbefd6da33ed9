# One entry point for humans and CI. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps on one venv: make run installs what running needs (RUN_STAMP: the runtime dependencies and the local
# emulator, pyproject's [local] extra); every other target adds the dev toolchain on top (STAMP: the [dev] extra).
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: help install run replay test test-cpu test-wait lint typecheck unit integration e2e soak package runtime-python bench clean checkov-venv contract-smoke

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

# uv prints its own progress here (no --quiet): the first `make run` takes about a minute, and shows it.
$(RUN_STAMP): pyproject.toml constraints.txt
	@echo "first run: installing the runtime dependencies into $(VENV) (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[local]'
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned dependencies (runtime and dev)

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

run: $(RUN_STAMP) ## serve the whole pipeline locally on http://$(HOST):$(PORT) (embedded AWS emulator; runtime dependencies only)
	$(BIN)/debouncer serve --host $(HOST) --port $(PORT)

# The shipped scenarios by default; they assume DEBOUNCE_SECONDS=2 MAX_WAIT_SECONDS=6 MAX_MESSAGES=10 (docs/replay.md).
FIXTURES ?= fixtures/*.json
REPLAY_ARGS ?=
replay: $(RUN_STAMP) ## play scenario fixtures against the running `make run` (FIXTURES='fixtures/*.json', REPLAY_ARGS='--speed 2')
	$(BIN)/debouncer replay $(REPLAY_ARGS) $(FIXTURES)

# The contract smoke test (tools/contract_smoke.py) against the server at BASE_URL when one answers there; otherwise
# against a server of its own, started as `make run` starts it but on a free port (2 s debounce, the echo AI, the
# documented local secrets unless the environment sets them) and stopped when the test ends, pass or fail.
BASE_URL ?= http://$(HOST):$(PORT)
SMOKE_ANSWERS := import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)
SMOKE_FREE_PORT := import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
SMOKE_WAIT := import sys, time, urllib.request\nfor _ in range(240):\n    try: urllib.request.urlopen(sys.argv[1] + "/health", timeout=2); sys.exit(0)\n    except OSError: time.sleep(0.25)\nsys.exit(1)

contract-smoke: $(RUN_STAMP) ## a signed two-message burst per channel, each answered once (BASE_URL, else a server of its own)
	@if $(BIN)/python -c '$(SMOKE_ANSWERS)' '$(BASE_URL)' 2>/dev/null; then \
	  $(BIN)/python tools/contract_smoke.py '$(BASE_URL)'; \
	else \
	  port=$$($(BIN)/python -c '$(SMOKE_FREE_PORT)'); log=$$(mktemp); \
	  echo "no server at $(BASE_URL): starting one on http://127.0.0.1:$$port (DEBOUNCE_SECONDS=2)"; \
	  DEBOUNCE_SECONDS=2 AI_PROVIDER=echo $(BIN)/debouncer serve --host 127.0.0.1 --port $$port >$$log 2>&1 & pid=$$!; \
	  trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -f $$log' EXIT; \
	  printf '$(SMOKE_WAIT)' | $(BIN)/python - "http://127.0.0.1:$$port" \
	    || { echo "error: the local server did not start within 60 s:" >&2; tail -n 5 $$log >&2; exit 2; }; \
	  $(BIN)/python tools/contract_smoke.py "http://127.0.0.1:$$port"; \
	fi

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
WAIT_WORKERS ?= 4
PYTEST_ARGS ?=

test: ## lint, type-check and run every test suite (two halves at once)
	@# Lint and type-check run beside the two halves rather than before them: on two cores, waiting for them cost
	@# their whole duration, where sharing the cores costs the halves a fraction of it. make -O keeps each output whole.
	$(MAKE) --no-print-directory -j4 -Otarget lint typecheck test-cpu test-wait

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

# Each heavy reliability run takes ~10 min: the default 3 seeds x 2 tests x 2 workflow types is about an hour on two
# cores. `make soak RELIABILITY_SEEDS=1` runs one seed; each run's seed is printed ("reliability runs") for replay
# with RELIABILITY_SEED=<seed>.
RELIABILITY_SEEDS ?= 3

soak: $(STAMP) ## the reliability and fuzz suites at their heavy profiles, RELIABILITY_SEEDS fresh seeds each (3; an hour)
	RELIABILITY_PROFILE=heavy RELIABILITY_SEEDS=$(RELIABILITY_SEEDS) HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -n 2 --dist loadgroup -q tests/reliability tests/fuzz tests/e2e/test_concurrent_senders.py

bench: $(STAMP) $(RUNTIME_PYTHON_STAMP) ## one table of measured figures vs the naive design (calls, capacity, transitions, cost, latency, imports); also build/bench.json
	$(BIN)/python -m bench

clean: ## remove the venv and build outputs
	rm -rf $(VENV) $(CHECKOV_VENV) build .cache .pytest_cache .mypy_cache .ruff_cache
