# `make help` lists the targets. Everything runs from the repo's own .venv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt extractor/requirements.txt reporter/requirements.txt docker/requirements-runtime.txt | sha1sum | cut -c1-12)

.PHONY: help venv test test-containers engine lint format report deploy bench

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create .venv and install the pinned dev requirements

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint ## Run every check: lint, unit and integration tests (needs MariaDB on 127.0.0.1:3306)
	$(PY) -m pytest

engine: ## Install (Debian's docker.io) and start a Docker engine if none answers
	bash tests/containers/engine.sh

test-containers: $(STAMP) engine ## Build and run the images and `docker compose up` on a real engine (root; first run ~10 min)
	$(PY) -m pytest tests/containers -p no:cacheprovider

report: ## Re-run the local stack's report and print what was delivered (DATE=YYYY-MM-DD for another day)
	docker compose run --rm report $(if $(DATE),--date $(DATE))

deploy: ## Build, push and deploy to AWS (./deploy.sh; settings in deploy.env)
	./deploy.sh

bench: $(STAMP) ## Run the benchmarks (10^4..10^7 order items; BENCH_ARGS="--sizes 1e4 --quick" for a short run)
	$(PY) -m bench $(BENCH_ARGS)
