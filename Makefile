# smartmeter: `make run` starts the whole system, `make test` runs the whole suite.

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
POSTGRES_TEST_URL ?= postgres://postgres@127.0.0.1:5432/smartmeter

.PHONY: run test test-sqlite test-postgres venv dev-deps browser pdftools migrate seed lint bench clean

$(PY):
	@PY313=$$(bin/find-python) && echo "Creating $(VENV) with $$PY313" && "$$PY313" -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed
dev-deps: $(VENV)/.installed-dev

# Debian's Chromium drives the browser tests (no browser download is possible here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing and cannot be installed without root: browser tests will skip"; fi; }

# poppler-utils' pdftotext reads the invoice PDFs back in the billing tests.
pdftools:
	@command -v pdftotext >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's poppler-utils (pdftotext) for the invoice PDF tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
		else echo "pdftotext is missing and cannot be installed without root: the invoice PDF tests will fail"; fi; }

migrate: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput -v 0

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@rm -rf var/prometheus  # metrics of processes from an earlier run
	@echo "Starting smartmeter on http://localhost:8000 (Ctrl-C stops everything)"
	$(VENV)/bin/honcho start -f Procfile

test: test-sqlite test-postgres

# Test runs keep their metrics apart from var/prometheus, which `make run` serves.
TEST_METRICS_DIR := $(CURDIR)/var/prometheus-test

test-sqlite: dev-deps browser pdftools
	@mkdir -p var
	@rm -rf $(TEST_METRICS_DIR)
	PROMETHEUS_MULTIPROC_DIR=$(TEST_METRICS_DIR) $(VENV)/bin/pytest $(PYTEST_ARGS)

# The database-facing tests again on PostgreSQL (the production database).
test-postgres: dev-deps pdftools
	@if $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		rm -rf $(TEST_METRICS_DIR); \
		PROMETHEUS_MULTIPROC_DIR=$(TEST_METRICS_DIR) DATABASE_URL=$(POSTGRES_TEST_URL) \
			$(VENV)/bin/pytest -m "not browser and not slow" $(PYTEST_ARGS); \
	elif [ "$$SMARTMETER_REQUIRE_SERVICES" = 1 ]; then \
		echo "PostgreSQL is not reachable on 127.0.0.1:5432 and SMARTMETER_REQUIRE_SERVICES=1"; exit 1; \
	else echo "PostgreSQL is not reachable on 127.0.0.1:5432: skipping the PostgreSQL run"; fi

# Style, formatting, and the import contracts in pyproject.toml (docs/architecture.md#dependencies).
lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
