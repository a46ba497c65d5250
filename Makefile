# Two-command quick start: `make run` and `make test` work on a fresh clone with only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

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
	$(BIN)/proofpix-plugins serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	# One run, one cache: src/ and bench/ strict, tests/ relaxed (see [tool.mypy.overrides]).
	$(BIN)/mypy src tests bench

# Every benchmark runs even when an earlier one misses its goal; the misses are summed up at the
# end and only then does the target fail.
BENCHES ?= scan hooks install api cluster marketplace
BENCH_DIR ?= bench
bench: $(STAMP)
	@missed=""; \
	for b in $(BENCHES); do \
		echo "== $(BENCH_DIR)/$$b.py"; \
		$(BIN)/python $(BENCH_DIR)/$$b.py || missed="$$missed $$b"; \
	done; \
	if [ -n "$$missed" ]; then \
		echo "== missed a goal or failed:$$missed (see each one's table above)"; exit 1; \
	fi; \
	echo "== every benchmark met its goal"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
