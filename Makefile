# symbnn: two commands on a fresh machine.
#   make demo   set up the virtual environment and run the demo on built-in data
#   make test   set up the virtual environment and run the tests
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PYTEST_ARGS ?= -m "not slow" -n 2

# Find a Python >= 3.12: python3.13, python3.12, pyenv's, or python3 if new enough.
FIND_PYTHON := for p in python3.13 python3.12 $$(ls -d /root/.pyenv/versions/3.1[2-9]*/bin/python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null) python3; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; \
	done

.PHONY: venv demo test test-slow test-all lint clean

$(VENV)/.installed: pyproject.toml
	@PYBIN=$$($(FIND_PYTHON)); \
	if [ -z "$$PYBIN" ]; then echo "error: symbnn needs Python >= 3.12 (tried python3.13, python3.12, pyenv, python3)" >&2; exit 1; fi; \
	echo "using $$PYBIN ($$($$PYBIN --version))"; \
	[ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,plots]"
	@touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m symbnn.demo

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -m slow -n 2

test-all: venv
	$(PY) -m pytest -m ""

lint: venv
	$(VENV)/bin/ruff check symbnn tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
