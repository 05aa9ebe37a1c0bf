# Quick start: `make demo` runs the demo pipeline end to end; `make test` runs the tests.
# Both create the virtualenv and install everything on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup chromium postgresql demo test ui validate benchmarks clean-warehouse lint fmt typecheck docs

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: pip takes the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
	@echo "installed: $(VENV)/bin/eval-pipeline (or 'source $(VENV)/bin/activate' to type eval-pipeline)"

# The demo replays the SYNTHETIC recordings in data/recordings: it selects EVAL_PROVIDER=replay
# explicitly (EVAL_PROVIDER=auto without ANTHROPIC_API_KEY fails instead of replaying).
demo: setup
	EVAL_PROVIDER=$${EVAL_PROVIDER:-replay} $(PY) -m eval_pipeline.cli demo

# The UI test drives Debian's chromium (/usr/bin/chromium) through Playwright: installed here when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the UI test (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# The deployment test (eval_pipeline_tests/e2e/test_deploy_daemon.py) starts a real PostgreSQL from Debian's
# postgresql package (initdb + pg_ctl under /usr/lib/postgresql/*/bin): installed here when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then echo "installing Debian postgresql for the deployment test (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the deployment test needs PostgreSQL's initdb/pg_ctl: install it (Debian/Ubuntu: sudo apt-get install postgresql)"; exit 1; fi; }

# Lint and format check (ruff, configured in pyproject.toml); `make fmt` rewrites.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Type check (mypy, configured in pyproject.toml [tool.mypy]: the whole package, strict where listed).
typecheck: setup
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml, docs/): fails on a broken link, a missing page or a bad snippet.
# `.venv/bin/mkdocs serve` serves it on http://127.0.0.1:8000 while you edit.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# The fast tier: eval_pipeline_tests/unit (no chromium, no PostgreSQL, no servers, no Dagster); under 90 s on 2 cores.
# Tiers are folders (eval_pipeline_tests/README.md); `pytest eval_pipeline_tests/integration` runs one tier.
test-fast: setup
	$(PY) -m pytest eval_pipeline_tests/unit -q

test: setup chromium postgresql
	$(PY) -m pytest eval_pipeline_tests

# The local UI inspects the demo, so it replays too unless EVAL_PROVIDER is set (e.g. anthropic with a key).
ui: setup
	EVAL_PROVIDER=$${EVAL_PROVIDER:-replay} DAGSTER_HOME=$(CURDIR)/.dagster_home VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg dev -h 127.0.0.1 -p 3000

validate: setup
	DAGSTER_HOME=$(CURDIR)/.dagster_home VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg check defs

benchmarks: setup
	for b in inference faults similarity detection history_scale traffic nightly_demo judge_bias judge_human_data canary cost report store pii; do $(PY) -m eval_pipeline_tests.benchmarks.$$b || exit 1; done

clean-warehouse:
	rm -rf warehouse .dagster_home/storage .dagster_home/history .dagster_home/logs .dagster_home/schedules
