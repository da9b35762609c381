# One command per chore, used the same way by people and by .ci/run. `make help` lists them.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: help setup lock system-deps demo test test-fast plugin lint format typecheck bench ci clean

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

# Every dependency and development tool comes from requirements.lock (exact versions, checked
# against their hashes), so a fresh clone installs what was tested; the two local packages go
# on top without resolving anything, and `pip check` proves the lock covers what they declare.
PIP_VERSION := 26.3
UV_VERSION := 0.13.9

# scripts/install-python.sh is the one install path: the Dockerfile runs it too.
$(BIN)/flexrec: pyproject.toml flexsim/pyproject.toml requirements.lock scripts/install-python.sh \
		flexrec/analysis/_frames.c flexrec/analysis/_vad.c
	PYTHON=$(PYTHON) PIP_VERSION=$(PIP_VERSION) bash scripts/install-python.sh $(VENV) --editable
	@touch $@

setup: $(BIN)/flexrec  ## Create .venv with flexrec and its dev tools, as requirements.lock pins them

lock:  ## Re-resolve requirements.lock after a dependency changed in a pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile requirements.in --universal --python-version 3.11 --generate-hashes \
		--no-emit-package flexsim --no-emit-package flexrec -o requirements.lock

system-deps:  ## Install the real servers and browser the full test suite starts (Debian packages)
	bash scripts/install-system-deps.sh

# The demo needs the simulator (flexrec's `sim` extra): setup installs ./flexsim with the rest.
demo: setup  ## Run the main job: the service against the simulator, scored
	$(BIN)/flexrec demo

test: setup system-deps  ## Run every test (unit, integration, end-to-end), the Flex plugin's too
	bash scripts/plugin.sh
	bash scripts/run-tests.sh

plugin:  ## Build and unit-test the Flex plugin (plugin-flexrec/, Node.js + npm)
	bash scripts/plugin.sh

test-fast: setup  ## Unit tests only
	$(BIN)/pytest tests/unit flexsim/tests/unit -q

lint: setup  ## Ruff lint and format check, and the import contracts (docs/design.md)
	$(BIN)/ruff check flexrec flexsim tests bench
	$(BIN)/ruff format --check flexrec flexsim tests bench
	$(BIN)/lint-imports --no-cache

format: setup  ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format flexrec flexsim tests bench
	$(BIN)/ruff check --fix flexrec flexsim tests bench

typecheck: setup  ## mypy (strict) on the package
	$(BIN)/mypy

bench: setup  ## Print the benchmark figures
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

ci: lint typecheck test  ## What CI runs

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
