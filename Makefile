# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-dev ingest lint bench eval clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

ingest: install
	$(BIN)/coach ingest

run: install
	$(BIN)/coach ingest --if-missing
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

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
