# The two commands (see README):
#   make demo   set everything up, run every DAG end to end on embedded defaults, print a summary
#   make test   set everything up and run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
# The first candidate that really runs Python 3.12 (a pyenv shim may exist but fail).
PYTHON ?= $(shell for c in python3.12 $$(ls -1d /root/.pyenv/versions/3.12*/bin/python3 2>/dev/null) /usr/bin/python3.12 python3; do \
	  if $$c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then command -v $$c; break; fi; done)
UV_VERSION := 0.13.9
# Two workers, one test file each at a time (files keep their order and share their module fixtures).
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=20
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps bench clean stop help airflow

help:
	@echo "make demo   - set up and run the whole pipeline on embedded defaults, then print a summary"
	@echo "make test   - set up and run the whole test suite"
	@echo "make airflow - the Airflow UI on the demo's home and warehouse (after make demo; Ctrl-C stops it)"
	@echo "make stop   - stop the embedded PostgreSQL started by the demo"
	@echo "make clean  - stop it and delete .local/ (embedded warehouse, Airflow home, demo data)"

demo: system-deps install
	$(VENV)/bin/tthc demo

airflow: install
	$(VENV)/bin/tthc airflow up $(if $(AIRFLOW_PORT),--port $(AIRFLOW_PORT))

test: system-deps install
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

system-deps:
	@bash tools/system-deps.sh

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 not found; set PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"need Python 3.12, $(PYTHON) is {sys.version.split()[0]}"'
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip --version >/dev/null 2>&1 || $(VENV)/bin/python -m ensurepip >/dev/null
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -r requirements-dev.txt -e .
	@touch $(STAMP)

stop:
	@[ -x $(VENV)/bin/tthc ] && $(VENV)/bin/tthc embedded stop || true

clean: stop
	rm -rf .local
