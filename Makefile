# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make test` installs every extra so that no test is skipped.
TEST_EXTRAS := test,bench,plot,server,bo,hopt,slates,rl,select

.PHONY: demo test lint bench clean system-deps

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(PY) -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@

$(VENV)/.demo: $(VENV)/.base
	$(PY) -m pip install --quiet -e ".[plot]"
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/oppertune demo

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests examples
	$(VENV)/bin/ruff format --check src tests examples

system-deps:
	bash .ci/system-deps.sh

test: lint system-deps
	$(PY) -m pytest

bench: $(VENV)/.test
	$(PY) -m oppertune.bench.overhead

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .hypothesis
