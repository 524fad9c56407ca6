# The two commands of the README. Both set everything up on a fresh machine (Python 3.11+ with venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# Where PYTHONDONTWRITEBYTECODE is set, an editable install is recompiled on every run (~0.2 s of
	@# every frugal command); compile it once here.
	$(PY) -m compileall -q infra policies runtime
	touch $(STAMP)

setup: $(STAMP)

## make demo: the main job on embedded defaults: the offline plan of the dev stack, then its cost preview.
demo: setup
	$(VENV)/bin/frugal plan --stack dev
	$(VENV)/bin/frugal preview --stack dev

## make test: lint, then the whole test suite (offline; real components where the suite needs them).
test: setup
	$(VENV)/bin/ruff check infra policies runtime tests
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check infra policies runtime tests
	$(VENV)/bin/ruff format --check infra policies runtime tests

clean:
	rm -rf $(VENV) .pytest_cache
