# Two commands do all the set-up (see README.md):
#   make book   install what is missing, execute the notebooks, build the HTML book
#   make test   install what is missing, run the whole test suite
# Everything installs into a project-local virtual environment (.venv), so nothing leaks in
# from the machine; re-running is cheap when requirements.txt and pyproject.toml are unchanged.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRESET ?= auto

.PHONY: setup book test clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

book: $(STAMP)
	$(BIN)/python -m splitbrain.book build --preset $(PRESET)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
