# The project's chores, the same on a laptop and in CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST := 127.0.0.1

.PHONY: demo test lint matrix bench clean system-deps

$(BIN)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11.")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

## demo: migrate, create the demo login and order, print the URLs, serve on PORT.
demo: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput -v0
	@$(BIN)/python manage.py demo_setup --base-url http://$(HOST):$(PORT)
	@echo "Serving on http://$(HOST):$(PORT); press Ctrl-C to stop."
	@exec $(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) \
		--timeout-graceful-shutdown 5 --no-proxy-headers --lifespan off

## test: the whole suite, Postgres included (DATABASE_URL, or a throwaway server).
test: $(BIN)/.installed system-deps
	$(BIN)/pytest

## system-deps: Debian packages the tests drive for real, when missing: nginx, and
## Chromium for the page tests (Playwright cannot download its own browser here).
SYSTEM_PACKAGES := nginx-light:nginx chromium:chromium
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v "$${pair#*:}" >/dev/null || [ -x "/usr/sbin/$${pair#*:}" ] \
			|| missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $$missing; \
	fi

## matrix: the core tests on each Python x Django combination (noxfile.py);
## SESSIONS picks some, e.g. SESSIONS="core(3.13-django6.1)".
matrix: $(BIN)/.installed
	$(BIN)/nox $(if $(SESSIONS),-s "$(SESSIONS)")

## bench: our server beside its peers, in three rounds (bench/README.md). For a
## quick run: BENCH_ARGS="--scale 0.1 --rounds 1". Writes BENCHMARKS.md.
bench: $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

## lint: ruff and mypy, as CI runs them.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy config orders tracking manage.py

clean:
	rm -rf $(VENV) .nox var db.sqlite3 db.sqlite3-shm db.sqlite3-wal
