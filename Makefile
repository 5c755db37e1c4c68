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
BOOK_ARGS ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser book test clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

book: $(STAMP)
	$(BIN)/python -m splitbrain.book build --preset $(PRESET) $(BOOK_ARGS)

# The book tests drive Debian's headless Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

clean:
	rm -rf _build
