# corpusmill: `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PY_VERSION ?= 3.11
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
export CORPUSMILL_HOME ?= $(CURDIR)/.corpusmill
export DAGSTER_DISABLE_TELEMETRY := true
ONLY ?=

.PHONY: help venv install install-test demo test dev bench clean

help:
	@echo "make demo   - create .venv, install, generate the sample factory, run every asset, print a summary"
	@echo "make test   - install test dependencies and run the test suite"
	@echo "make dev    - start the Dagster UI (dagster dev) on workspace.yaml against CORPUSMILL_HOME"
	@echo "make bench  - run the benchmarks (ONLY=name for one)"

$(PY):
	python$(PY_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9

# uv resolves and installs the pinned set in seconds; the stamp re-installs when pyproject changes.
# Bytecode is compiled at install (uv does not by default): where PYTHONDONTWRITEBYTECODE is set
# (as on this project's CI machine), every process would otherwise compile dagster, polars and
# the project from source at each start (about 1 s per CLI call, Dagster step or test subprocess).
COMPILE := $(PY) -m compileall -q -j 0 corpusmill assets pipelines quality >/dev/null
$(VENV)/.installed: pyproject.toml | $(PY)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e .
	$(COMPILE)
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[test]'
	touch $@

venv: $(PY)
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/corpusmill demo --home "$(CORPUSMILL_HOME)"

test: install-test
	bash scripts/test-deps.sh
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

dev: install
	$(VENV)/bin/corpusmill dev --home "$(CORPUSMILL_HOME)"

bench: install-test
	$(PY) -m bench $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf $(VENV) .corpusmill .pytest_cache
