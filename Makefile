# TaskGo developer commands. `make run` and `make test` work on a machine with only
# Python 3.11+ and pip: uv is bootstrapped into .tools/ when it is not on PATH.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: run test sync bootstrap system-deps lint typecheck bench demo clean

run: sync
	$(UV) run --frozen taskgo dev $(RUN_ARGS)

test: sync system-deps
	$(UV) run --frozen pytest $(PYTEST_ARGS)

sync: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

# Tesseract (Portuguese), Chromium and fonts for the verification and admin tests.
# Installed only when missing and when this user may run apt-get.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		bash scripts/install-system-deps.sh; \
	else \
		echo "system-deps: not root or no apt-get; tests that need Tesseract or Chromium will be skipped"; \
	fi

lint: sync
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen ruff format --check src tests bench

typecheck: sync
	$(UV) run --frozen mypy src

bench: sync
	$(UV) run --frozen python -m bench

demo: sync
	$(UV) run --frozen taskgo demo

clean:
	rm -rf .venv .tools var/pgdata-test .pytest_cache
