# Two-command quick start: `make run` and `make test` work on a fresh clone with only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/proofpix-plugins db upgrade
	$(BIN)/proofpix-plugins demo seed
	$(BIN)/proofpix-plugins serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	# One run, one cache: src/ and bench/ strict, tests/ relaxed (see [tool.mypy.overrides]).
	$(BIN)/mypy src tests bench

bench: $(STAMP)
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/hooks.py
	$(BIN)/python bench/install.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
