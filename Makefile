# The two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratus
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test install lint format bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: migrate, seed the demo organization and its emulated Microsoft 365 tenant,
## then start graphsim, web, worker and scheduler in the foreground (Ctrl-C stops all).
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py runstack

## make test: the whole suite against the real PostgreSQL and Redis.
test: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m config.preflight
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## make bench: every benchmark in bench/, each printing its figures and targets.
bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var db.sqlite3 .graphsim .pytest_cache
