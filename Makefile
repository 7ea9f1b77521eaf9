# Civic — two commands set everything up on a fresh Debian machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
PG_TEST_URL ?= postgresql+asyncpg://civic:civic@127.0.0.1:5432/civic_test
SYSTEM_PACKAGES := chromium poppler-utils fonts-noto-core fonts-hosny-amiri libharfbuzz-subset0 postgresql

.PHONY: help run test test-sqlite test-postgres e2e lint install system-deps assets db clean messages bench

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) assets ## create .venv and install Civic with its test tools

static/vendor/htmx.min.js static/vendor/sse.js: package.json
	npm install --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/htmx-ext-sse/dist/sse.min.js static/vendor/sse.js

assets: static/vendor/htmx.min.js static/vendor/sse.js ## fetch htmx and its SSE extension from npm into static/vendor

db: install ## migrate the embedded database and load territories and demo content (idempotent)
	$(BIN)/civic db upgrade
	$(BIN)/civic load-territories
	$(BIN)/civic demo

run: db ## serve Civic with demo data on http://127.0.0.1:8000
	CIVIC_BASE_URL=$${CIVIC_BASE_URL:-http://127.0.0.1:$(PORT)} exec $(BIN)/civic serve --host 127.0.0.1 --port $(PORT)

system-deps: ## Chromium and fonts from Debian (installed when missing and root)
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "Missing system packages. Install them with:"; \
	       echo "  sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

test: install system-deps ## every suite: SQLite, PostgreSQL, then the browser (e2e)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory e2e

test-sqlite: install ## unit and integration tests on SQLite
	CIVIC_TEST_DATABASE=sqlite $(BIN)/pytest tests -q

test-postgres: install ## the same tests on PostgreSQL (CIVIC_TEST_POSTGRES_URL, default a local civic_test)
	@bash .ci/postgres-up "$(PG_TEST_URL)"
	CIVIC_TEST_DATABASE=postgres CIVIC_TEST_POSTGRES_URL=$${CIVIC_TEST_POSTGRES_URL:-$(PG_TEST_URL)} $(BIN)/pytest tests -q

e2e: install system-deps ## browser journeys in headless Chromium with axe-core
	$(BIN)/pytest e2e -q -p no:asyncio -W ignore::pytest.PytestConfigWarning

lint: install ## ruff and mypy --strict
	$(BIN)/ruff check civic tests e2e alembic/env.py
	$(BIN)/mypy

clean: ## remove the virtualenv, node_modules and local databases
	rm -rf $(VENV) node_modules civic.db civic.db-wal civic.db-shm

bench: install ## run every benchmark scenario against a real server on PostgreSQL; rewrites bench/RESULTS.md (< 15 min)
	@# issue #8: bench — the load generator needs the `bench` extra (aiohttp)
	@$(BIN)/python -c "import aiohttp" 2>/dev/null || $(BIN)/pip install --quiet -e '.[test,bench]'
	@bash .ci/postgres-up "$${CIVIC_BENCH_DATABASE_URL:-postgresql+asyncpg://civic:civic@127.0.0.1:5432/civic_bench}"
	$(BIN)/python bench/run.py --results bench/RESULTS.md

messages: install ## extract messages and update the ar and fr catalogues
	$(BIN)/pybabel extract -F civic/i18n/babel.cfg -k N_ --no-location --sort-output -o civic/i18n/messages.pot .
	$(BIN)/pybabel update -i civic/i18n/messages.pot -d civic/i18n/locales --no-fuzzy-matching --ignore-obsolete
