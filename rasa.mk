# Rasa targets: validate the data, train, conversation tests, NLU cross-validation.
# Included by the Makefile; also works alone: `make -f rasa.mk rasa-check`. Run from the repo root.

RASA_VENV ?= .venv-rasa
RASA := $(RASA_VENV)/bin/rasa
# The makefile that was called (Makefile, or rasa.mk alone), for the steps of rasa-check.
RASA_TOP_MAKEFILE := $(firstword $(MAKEFILE_LIST))
# addons.language (the LanguageDetector in config.yml) is imported from the repository root.
RASA_ENV := PYTHONPATH=$(CURDIR) RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1 \
	TF_CPP_MIN_LOG_LEVEL=2
RASA_MODEL := models/kefu.tar.gz
RASA_INPUTS := config.yml domain.yml \
	$(sort $(shell find data addons texts -type f \( -name '*.yml' -o -name '*.py' \) 2>/dev/null))

.PHONY: rasa-validate rasa-train rasa-test-stories rasa-test-nlu rasa-check rasa-inputs-changed

# Used alone, the Makefile's install-rasa is not there: the same steps, from requirements-rasa.txt.
ifndef PYTHON310
PYTHON310 := $(shell PYENV_VERSION=3.10.13 pyenv which python 2>/dev/null || command -v python3.10)
.PHONY: install-rasa
install-rasa: $(RASA_VENV)/.installed
$(RASA_VENV)/.installed: requirements-rasa.txt
	@test -x $(RASA_VENV)/bin/python || $(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade pip wheel
	$(RASA_VENV)/bin/pip install --quiet -r requirements-rasa.txt
	$(RASA) --version
	@touch $@
endif

rasa-validate: install-rasa
	$(RASA_ENV) $(RASA) data validate --fail-on-warnings

# The list of inputs is an input too, so removing or renaming a data file also retrains.
models/.kefu-inputs: rasa-inputs-changed
	@mkdir -p models
	@echo '$(RASA_INPUTS)' | cmp -s - $@ || echo '$(RASA_INPUTS)' > $@

# Retrained only when the data, config, domain, custom components or the Rasa install change;
# Rasa's own cache (.rasa/) then retrains only the components whose inputs changed.
$(RASA_MODEL): $(RASA_INPUTS) models/.kefu-inputs $(RASA_VENV)/.installed
	$(RASA_ENV) $(RASA) train --fixed-model-name kefu --out models
	@touch $@

rasa-train: install-rasa $(RASA_MODEL)

# The dialogue, given the intents written in tests/test_*.yml. Not --e2e: exact NLU predictions
# on these few sentences changed between trainings from scratch (a fresh clone failed on one),
# and NLU quality is measured by the cross-validation below instead.
rasa-test-stories: rasa-train
	$(RASA_ENV) $(RASA) test core --model $(RASA_MODEL) --stories tests \
		--fail-on-prediction-errors --out results/stories

rasa-test-nlu: install-rasa
	$(RASA_ENV) $(RASA) test nlu --nlu data/nlu --config config.yml \
		--cross-validation --folds 3 --out results
	@$(RASA_VENV)/bin/python -c 'import json; \
		report = json.load(open("results/intent_report.json")); \
		print("intent macro-F1 (3-fold cross-validation): %.3f" % report["macro avg"]["f1-score"])'

# One step after the other, in the order the style guide asks, even under make -j.
rasa-check:
	@$(MAKE) --no-print-directory -f $(RASA_TOP_MAKEFILE) rasa-validate
	@$(MAKE) --no-print-directory -f $(RASA_TOP_MAKEFILE) rasa-train
	@$(MAKE) --no-print-directory -f $(RASA_TOP_MAKEFILE) rasa-test-stories
	@$(MAKE) --no-print-directory -f $(RASA_TOP_MAKEFILE) rasa-test-nlu
