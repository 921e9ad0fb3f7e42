# creditflow: `make up` runs the workers on the embedded local stack, `make test` runs the whole suite.
# Both create .venv and install the locked dependencies on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO ?= 1
STATE_DIR ?= .creditflow

.PHONY: up test browser unit integration lint typecheck schemas bench bench-api chaos load clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.9"

$(VENV)/.synced: $(BIN)/uv pyproject.toml uv.lock
	$(BIN)/uv sync --frozen --python $(BIN)/python
	touch $@

up: $(VENV)/.synced
	$(BIN)/creditflow up $(if $(filter 0,$(DEMO)),--no-demo,--demo) --state-dir $(STATE_DIR)

# The browser tests drive Debian's Chromium (Playwright cannot download its own browsers here); DejaVu for PDFs.
browser:
	@command -v chromium >/dev/null 2>&1 && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; } || \
	  echo "install Chromium (Debian: apt-get install chromium) for the browser tests"

test: $(VENV)/.synced browser
	$(BIN)/pytest

unit: $(VENV)/.synced
	$(BIN)/pytest tests/unit

integration: $(VENV)/.synced browser
	$(BIN)/pytest tests/integration tests/e2e

lint: $(VENV)/.synced
	$(BIN)/ruff check .

typecheck: $(VENV)/.synced
	$(BIN)/mypy creditflow schemas services shared benchmarks proof

bench: $(VENV)/.synced
	$(BIN)/python -m proof.bench

# The API benchmark's closed loop uses Debian's wrk (a C load generator) when it can be installed.
bench-api: $(VENV)/.synced
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || echo "wrk not installed: Python load only"
	$(BIN)/python -m benchmarks.api

chaos: $(VENV)/.synced
	$(BIN)/python -m proof.chaos

load: $(VENV)/.synced
	$(BIN)/python -m proof.api_load

schemas: $(VENV)/.synced
	$(BIN)/python -m schemas.export
	$(BIN)/python -m schemas.asyncapi
	$(BIN)/python -m services.api.openapi

clean:
	rm -rf $(VENV) $(STATE_DIR) .pytest_cache .ruff_cache .mypy_cache
