# Kefu — one entry point for setup, running, testing and benchmarks.
# The service runs on Python 3.11 (.venv); Rasa 3.6 needs Python 3.10 (.venv-rasa).

SHELL := /bin/bash
PYTHON ?= python3.11
PYTHON310 ?= $(shell PYENV_VERSION=3.10.13 pyenv which python 2>/dev/null || command -v python3.10)
VENV := .venv
RASA_VENV := .venv-rasa
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install install-service install-rasa lint format test test-py test-actions run demo bench clean

help:
	@echo "make run    install what is missing, load the demo knowledge base, start the service"
	@echo "make test   lint, type-check, every test, then Rasa: validate, train, conversation tests, NLU cross-validation"
	@echo "make bench  retrieval benchmarks (numbers for the README)"

install: install-service install-rasa

install-service: $(VENV)/.installed
install-rasa: $(RASA_VENV)/.installed

# torch is pinned in pyproject.toml to the CPU wheel the machines carry; installing it first
# keeps sentence-transformers from pulling a CUDA build.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt
	@test -x $(RASA_VENV)/bin/python || $(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade pip wheel
	$(RASA_VENV)/bin/pip install --quiet -r requirements-rasa.txt
	$(RASA_VENV)/bin/rasa --version
	@touch $@

lint: install-service
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-service
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-py: install-service
	$(BIN)/pytest

# Rasa's action server code is tested in its own environment, where rasa_sdk lives.
test-actions: install-rasa
	$(RASA_VENV)/bin/pytest tests/actions -p no:cacheprovider

test: install lint test-py test-actions rasa-check

demo: install-service
	$(BIN)/kefu kb import kb/demo/articles.jsonl

bench: install-service
	$(BIN)/python -m bench.retrieval
	$(BIN)/python -m bench.encoders

run: install demo
	@echo ""
	@echo "Kefu service:  http://127.0.0.1:8000/api/v1/health"
	@echo "API docs:      http://127.0.0.1:8000/docs"
	@echo "Search the KB: $(BIN)/kefu kb search \"我想退货\"   (Ctrl-C stops the service)"
	$(BIN)/kefu serve --host 127.0.0.1 --port 8000

clean:
	rm -rf var results .pytest_cache .mypy_cache .ruff_cache

-include rasa.mk
