# submsg — the two commands: `make run` (local stack) and `make test` (the suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins boto3==1.35.49 (and packaging<24), which pip cannot install beside this project's
# boto3 pin in requirements-dev.txt; it gets a virtualenv of its own, pinned in
# infra/requirements-checkov.txt.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
CHECKOV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(TOOLS_VENV)/bin/checkov
# The report's browser test drives Debian's Chromium (never a browser playwright downloads).
CHROMIUM_STAMP := $(VENV)/.chromium
STAGE ?= dev

.PHONY: run test bench lint package clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(TOOLS_STAMP): infra/requirements-checkov.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	touch $(TOOLS_STAMP)

$(CHROMIUM_STAMP): | $(STAMP)
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the report's browser test (needs root)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium; }
	touch $(CHROMIUM_STAMP)

run: $(STAMP)
	$(BIN)/python -m local

# The suite includes a checkov run on the packaged template, hence the tools virtualenv, and
# the report in a headless browser, hence Chromium.
test: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(TOOLS_VENV) build .pytest_cache

# Writes build/package/sam.json + deployment.zip; the stack then needs --parameter-overrides Stage=$(STAGE).
# checkov runs offline: no platform API key, no download (--skip-download), no update check.
package: $(STAMP) $(TOOLS_STAMP)
	rm -rf build/package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) \
		--merge-template infra/resources.json build/package
	$(BIN)/cfn-lint build/package/sam.json
	$(CHECKOV) -f build/package/sam.json --framework cloudformation --skip-download --compact \
		--quiet
