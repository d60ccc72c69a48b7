# Rasa targets, included by the Makefile. Run from the repository root.
RASA := $(RASA_VENV)/bin/rasa
RASA_ENV := PYTHONPATH=$(CURDIR) RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1
RASA_SOURCES := config.yml domain.yml $(shell find data addons -type f \( -name '*.yml' -o -name '*.py' \) 2>/dev/null)

.PHONY: rasa-validate rasa-train rasa-test-stories rasa-test-nlu rasa-check

rasa-validate: install-rasa
	$(RASA_ENV) $(RASA) data validate --fail-on-warnings

# Retrained only when the training data, config, domain or custom components change.
models/kefu.tar.gz: $(RASA_SOURCES) $(RASA_VENV)/.installed
	$(RASA_ENV) $(RASA) train --fixed-model-name kefu --out models

rasa-train: models/kefu.tar.gz

rasa-test-stories: models/kefu.tar.gz
	$(RASA_ENV) $(RASA) test core --stories tests --model models/kefu.tar.gz \
		--fail-on-prediction-errors --out results/stories

rasa-test-nlu: install-rasa
	$(RASA_ENV) $(RASA) test nlu --nlu data/nlu --cross-validation --folds 3 --out results/nlu
	@$(RASA_VENV)/bin/python -c "import json; r = json.load(open('results/nlu/intent_report.json')); \
		print('intent macro-F1 (3-fold cross-validation): %.3f' % r['macro avg']['f1-score'])"

# In the order the style guide asks: validate, train, conversation tests, cross-validation.
rasa-check: rasa-validate rasa-train rasa-test-stories rasa-test-nlu
