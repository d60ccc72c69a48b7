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

.PHONY: help install install-service install-rasa install-browser lint format test test-py \
	test-actions test-e2e test-scale run demo bench clean

help:
	@echo "make run    install what is missing, load the demo knowledge base, train if needed, start everything"
	@echo "make test   lint, type-check, every test, then Rasa: validate, train, conversation tests, NLU cross-validation"
	@echo "make test-scale  the end-to-end suite and the cross-worker tests on 2 service workers, 2 Rasa, PostgreSQL and Redis"
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
	$(BIN)/lint-imports --no-cache

format: install-service
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-py: install-service
	$(BIN)/pytest -m "not e2e and not scale"

# Rasa's action server code is tested in its own environment, where rasa_sdk lives.
test-actions: install-rasa
	$(RASA_VENV)/bin/pytest tests/actions -p no:cacheprovider

# The whole stack on a trained model, over HTTP, WebSocket and in Chromium.
test-e2e: install install-browser rasa-train
	$(BIN)/pytest -m e2e

test: install lint test-py test-actions rasa-check test-e2e

# The multi-worker layout (docs/scaling.md) on real engines: the harnesses (tests/servers/)
# install Debian's PostgreSQL and Redis when missing and start them on free loopback ports in
# temporary folders; the end-to-end suite then runs on 2 service workers and 2 Rasa processes
# over them, then the cross-worker tests (tests/scale). One stack at a time. First, the whole
# service suite on PostgreSQL (KEFU_TEST_DATABASE=postgres): 5.5 to 7 min on this 2-core
# machine (on SQLite, in make test: about 6).
PG_TESTS := tests/db tests/kb tests/bot tests/servers
test-scale: install install-browser rasa-train
	KEFU_TEST_DATABASE=postgres $(BIN)/pytest -m "not e2e and not scale" $(PG_TESTS)
	KEFU_E2E_LAYOUT=scale $(BIN)/pytest -m e2e tests/e2e
	$(BIN)/pytest -m scale tests/scale

# Browser tests use Debian's chromium (Playwright cannot download browsers here).
CHROMIUM ?= /usr/bin/chromium
# fonts-noto-cjk: Chinese renders in the screenshots instead of boxes.
install-browser:
	@{ test -x $(CHROMIUM) && test -d /usr/share/fonts/opentype/noto; } || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk; }

demo: install-service
	$(BIN)/kefu kb import kb/demo/articles.jsonl
	$(BIN)/kefu users demo

bench: install-service rasa-train
	$(BIN)/python -m bench.retrieval
	$(BIN)/python -m bench.encoders
	$(BIN)/python -m bench.chat
	$(BIN)/python -m bench.hops
	$(BIN)/python -m bench.sentiment
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.dialogue
	$(BIN)/python -m bench.nlu
	$(BIN)/python -m bench.faults
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.mail

# Everything missing is made first (environments, database, demo articles, index, model; the
# model is retrained only when its inputs changed); then Rasa, the action server and the
# service start together, and Ctrl-C stops them all.
run: install demo rasa-train
	$(BIN)/kefu stack up

clean:
	rm -rf var results .pytest_cache .mypy_cache .ruff_cache

-include rasa.mk
