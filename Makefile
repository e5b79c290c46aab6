# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make demo` needs only the runtime (about 15 s, 135 MB); the test extras (mne, scipy,
# matplotlib, mypy...) would make a newcomer wait two minutes for the first sample.
RUNTIME := $(VENV)/.runtime

.PHONY: demo test lint bench clean

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP) $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/cortex-bridge demo

lint: $(STAMP)
	$(BIN)/ruff check bridge tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/cortex-bridge bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
