# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-dev lock ingest lint bench eval load clean

$(BIN)/python:
	@echo "==> creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)

# Installs come from the hash-pinned lock files (`make lock` refreshes them), then the project itself.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	@echo "==> installing the locked dependencies (the first time takes a few minutes)"
	$(BIN)/pip install --progress-bar off --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-dev.lock | $(BIN)/python
	@echo "==> installing the locked dependencies and the dev tools (the first time takes a few minutes)"
	$(BIN)/pip install --progress-bar off --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Re-resolve the dependencies in pyproject.toml and pin them with hashes (the optional `st` extra is not locked).
lock: | $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --upgrade --generate-hashes --strip-extras --no-emit-find-links --no-emit-index-url \
		--output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --upgrade --generate-hashes --strip-extras --no-emit-find-links --no-emit-index-url \
		--extra dev --output-file requirements-dev.lock pyproject.toml

ingest: install
	$(BIN)/coach ingest

run: install
	@echo "==> the knowledge index (built once; later runs reuse it)"
	$(BIN)/coach ingest --if-missing
	@echo "==> starting the service"
	$(BIN)/coach serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check app tests
	$(BIN)/mypy app
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check app tests
	$(BIN)/mypy app

eval: install-dev
	$(BIN)/coach ingest
	$(BIN)/coach eval retrieval evals/retrieval-dev.jsonl evals/retrieval-heldout.jsonl

bench: install-dev
	$(BIN)/coach ingest
	$(BIN)/python -m app.bench

# A bounded load run on loopback: PostgreSQL + a Chroma server + 1, then 2 workers (the docker-compose steps).
load: install-dev
	$(BIN)/python scripts/load.py --out evals/results/load.json

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
