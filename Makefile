# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARTIFACTS ?= test-artifacts

.PHONY: run test lint typecheck pytest system-deps install dev bench clean

run: install
	$(BIN)/tiepdan db upgrade
	$(BIN)/tiepdan seed-demo --sample-archive
	$(BIN)/tiepdan serve

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# Debian's Chromium (the end-to-end tests drive it) and ffmpeg/ffprobe (recordings are read
# by an independent tool), installed when missing.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v ffprobe >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium ffmpeg; \
	fi

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev
	$(BIN)/mypy

pytest: dev system-deps
	mkdir -p $(ARTIFACTS)
	$(BIN)/pytest -q -p no:cacheprovider --durations=20

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var $(ARTIFACTS)
