# tokenomy — the two commands of the quick start, and a few for developers.
#   make demo   create .venv, install tokenomy, run the demo study, write results/demo/report.html
#   make test   create/update .venv with the dev tools and run the whole test suite

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CORE_STAMP := $(VENV)/.core-installed
DEV_STAMP := $(VENV)/.dev-installed
DEMO_OUT ?= results/demo
PYTEST_ARGS ?=

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(CORE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(CORE_STAMP)

demo: $(CORE_STAMP)
	$(BIN)/tokenomy demo --out $(DEMO_OUT) --overwrite

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check tokenomy tests benchmarks
	$(BIN)/ruff format --check tokenomy tests benchmarks
	$(BIN)/mypy tokenomy

format: $(DEV_STAMP)
	$(BIN)/ruff format tokenomy tests benchmarks
	$(BIN)/ruff check --fix tokenomy tests benchmarks

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/market_scale.py
	$(BIN)/python benchmarks/allocate_speed.py
	$(BIN)/python benchmarks/ledger_throughput.py
	$(BIN)/python benchmarks/market_transports.py
	$(BIN)/python benchmarks/ray_scale.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .mypy_cache
