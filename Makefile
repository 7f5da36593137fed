# Two commands do everything: `make demo` runs the demo month on the embedded SQLite default,
# `make test` runs every test (SQLite, PostgreSQL, Redis, browser-free). Both set up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test lint bench services clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/aifinops demo

services:
	sh scripts/services.sh

test: $(VENV)/.installed services
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info aifinops.db aifinops.db-wal aifinops.db-shm
