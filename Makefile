# The two commands of the README:  `make run`  and  `make test`.
PY := .venv/bin/python
PORT ?= 5000

.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

run: setup
	@$(PY) app.py serve --port $(PORT)

# Every test, on SQLite and on PostgreSQL (started if it is down; mandatory under CI=true).
test: setup
	@bash scripts/ensure_postgres.sh || [ -z "$$CI" ] || (echo "PostgreSQL is required under CI" >&2; exit 1)
	@$(PY) -m ruff check .
	@bash scripts/test.sh $(PYTEST_ARGS)

lint: setup
	@$(PY) -m ruff check .

bench: setup
	@$(PY) -m bench.run_all
