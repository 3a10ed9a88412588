# smartstore: the two commands of the README, plus helpers.
#   make demo   set up, then run a simulated night at the store on embedded defaults
#   make test   set up, then lint, type-check and run the whole test suite
#   make chaos  the set test of issue 11: 200 random faults, every event committed once (needs PostgreSQL)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto python3-venv python3-dev build-essential chromium chromium-driver systemd

.PHONY: setup demo test check soak chaos lint bench clean

WEB := cloud_sync/shopper/web

setup: $(VENV)/.installed $(WEB)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	$(PYTHON) -c "import venv, ensurepip" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing build-essential python3-dev"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt-get:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[agent,cloud,dev,train]'
	touch $@

# The shopper app's front-end dependency (the QR encoder, docs/adr/0010-shopper-app.md), pinned by its lock file.
$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing with apt-get: nodejs npm"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; fi; \
	}
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/smartstore demo

test: check
	$(BIN)/pytest

# Lint, format, import contracts and types: part of every `make test`.
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

soak: setup
	$(BIN)/pytest -m soak -p no:cacheprovider

# Real agent, broker, two ingest workers and PostgreSQL under kill -9 and restarts; non-zero exit on loss.
CHAOS_FAULTS ?= 200
chaos: setup
	$(BIN)/smartstore bench chaos --faults $(CHAOS_FAULTS) --json

lint: check

bench: setup
	$(BIN)/smartstore bench door --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules
