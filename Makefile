# submsg — the two commands: `make run` (local stack) and `make test` (the suite).
# Python 3.13, as Lambda's python3.13 runtime: `chalice package` names the runtime after the
# Python it runs on. PYTHON is python3.13 on PATH, or pyenv's 3.13 when another is pyenv's global.
PYTHON_VERSION := 3.13
PYTHON ?= $(shell for run in "" "PYENV_VERSION=$(PYTHON_VERSION)"; do \
	env $$run python$(PYTHON_VERSION) -c 'import sys; print(sys.executable)' 2>/dev/null && break; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins boto3==1.35.49 (and packaging<24), which pip cannot install beside this project's
# boto3 pin in requirements-dev.in; it gets a virtualenv of its own, locked in
# infra/requirements-checkov.txt.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# The report's browser test drives Debian's Chromium (never a browser playwright downloads).
CHROMIUM_STAMP := $(VENV)/.chromium
STAGE ?= dev

.PHONY: run aws test bench lint package lock deploy clean

# $(call python_venv,DIR): DIR is a virtualenv of Python $(PYTHON_VERSION), made anew if it is
# missing or of another Python.
python_venv = @test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) is required: \
	python$(PYTHON_VERSION) on PATH, or PYTHON=/path/to/python$(PYTHON_VERSION)"; exit 1; }; \
	test "$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
	= "$(PYTHON_VERSION)" || { rm -rf $(1) && $(PYTHON) -m venv $(1); }
# Every package at its locked version and hash (the locks are made by `make lock`).
PIP_INSTALL_LOCKED := -m pip install --quiet --require-hashes --no-deps -r

$(STAMP): requirements-dev.txt pyproject.toml
	$(call python_venv,$(VENV))
	$(BIN)/python $(PIP_INSTALL_LOCKED) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

$(TOOLS_STAMP): infra/requirements-checkov.txt
	$(call python_venv,$(TOOLS_VENV))
	$(TOOLS_VENV)/bin/python $(PIP_INSTALL_LOCKED) infra/requirements-checkov.txt
	$(TOOLS_VENV)/bin/python -m pip check
	touch $(TOOLS_STAMP)

# Resolves the *.in files into the hashed locks (PyPI's packages only); UPGRADE=1 takes the newest
# releases the pins allow instead of keeping the locked ones. requirements.txt is the Lambda zip's
# set, resolved for its platform (Amazon Linux 2023, glibc 2.34, x86_64); the dev lock takes the
# same versions.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version $(PYTHON_VERSION) \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(LOCK) --python-platform x86_64-manylinux_2_34 requirements.in -o requirements.txt
	$(LOCK) --universal -c requirements.txt requirements-dev.in -o requirements-dev.txt
	$(LOCK) --universal infra/requirements-checkov.in -o infra/requirements-checkov.txt

$(CHROMIUM_STAMP): | $(STAMP)
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the report's browser test (needs root)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium; }
	touch $(CHROMIUM_STAMP)

run: $(STAMP)
	$(BIN)/python -m local

# The embedded AWS alone (DynamoDB, SQS) on 127.0.0.1:$${SUBMSG_AWS_PORT:-4566}, in the foreground
# until Ctrl-C, with the faults of SUBMSG_AWS_FAULTS (docs/local-stack.md).
aws: $(STAMP)
	$(BIN)/python -m local.aws

# Every tier (docs/testing.md): unit, flows on the in-memory store, the integration tier on the
# embedded AWS, end to end through the local stack. The suite includes a checkov run on the
# packaged template, hence the tools virtualenv, and the report in a headless browser, hence
# Chromium.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: each xdist worker and each
# process a stack starts then reads the project compiled and the tests' asserts rewritten once,
# not compiled again in every process (about 5 s of each worker's collection). Three workers on
# two cores: the end-to-end modules mostly wait on their stacks, and the third keeps both busy.
test: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM_STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 3 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(TOOLS_VENV) build .pytest_cache

# build/package/sam.json + deployment.zip for STAGE, then checked: the zip holds exactly the runtime
# lock, cfn-lint, and checkov offline (no platform API key, no download, no update check).
package: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE)

# Package, upload and deploy the stack submsg-$(STAGE), then print its URLs (docs/deploy.md).
# REGION=… (default: the AWS configuration's), PARAMETERS="Name=value …" (stack parameters),
# DRY_RUN=1 prints the steps and calls nothing.
deploy: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m infra.deploy --stage $(STAGE) $(if $(REGION),--region $(REGION)) \
		$(foreach parameter,$(PARAMETERS),--parameter $(parameter)) $(if $(DRY_RUN),--dry-run)
