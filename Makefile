# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/demo-data
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
PYTEST_ARGS ?=
QUICK ?=
DEMO_ARGS ?=

.PHONY: install test demo screenshots bench lint reliability clean testbed-up testbed-down receiver

# Idempotent: the venv is created once; the project is (re)installed only when
# pyproject.toml changed since the last install.
install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.local.yaml $@

test: install $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) SLURM_USAGE_DATA_DIR=$(DATA_DIR) $(BIN)/python -m slurm_assets.demo.stack --data-dir $(DATA_DIR) $(DEMO_ARGS)

# The README's pictures: the demo data (made or topped up), the dashboard in Debian's chromium, docs/screenshots/*.png.
screenshots: install $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/python -m slurm_assets.demo.screenshots --data-dir $(DATA_DIR)

bench: install
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

# The fault and abuse suite with its soak tests; regenerates docs/RELIABILITY.md from the figures.
reliability: install
	$(BIN)/python -m slurm_assets_tests.reliability.report $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	shellcheck agent/install.sh

# Development helpers: keep the real SLURM testbed running between test runs.
testbed-up: install
	SLURM_TESTBED_KEEP=1 $(BIN)/python -m pytest slurm_assets_tests/testbed -q

testbed-down:
	bash slurm_assets_tests/testbed/stop-cluster.sh

receiver: install
	API_KEYS=$${API_KEYS:?set API_KEYS, e.g. API_KEYS=secret} $(BIN)/slurm-usage-receiver --data-dir $(DATA_DIR)

clean:
	rm -rf $(VENV) $(DATA_DIR) $(DAGSTER_HOME)
