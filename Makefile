# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARTIFACTS ?= test-artifacts

.PHONY: run test lint typecheck pytest system-deps runtime-deps install dev bench clean

run: install runtime-deps
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

# What the app itself needs of the system, installed when missing: ffmpeg (composite
# exports) and a Times-metric font with Vietnamese for the PDFs (Tinos, fonts-croscore). A
# machine where apt-get cannot run still serves: the pages say what to install.
TINOS := /usr/share/fonts/truetype/croscore/Tinos-Regular.ttf
runtime-deps:
	@if ! command -v ffmpeg >/dev/null || [ ! -f $(TINOS) ]; then \
		($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg fonts-croscore) || \
		echo "could not install ffmpeg and fonts-croscore: exports and PDFs will say so"; \
	fi

# Debian's Chromium (the end-to-end tests drive it), ffmpeg/ffprobe (recordings are read
# by an independent tool), poppler-utils (pdftotext and pdfinfo read the PDFs back), the
# PDFs' font and Janus (`tiepdan bench echo` and its test compare the bridge with it),
# installed when missing.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v ffprobe >/dev/null || \
		! command -v pdftotext >/dev/null || [ ! -f $(TINOS) ] || [ ! -x /usr/bin/janus ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium ffmpeg \
			poppler-utils fonts-croscore janus; \
	fi

# What the benchmarks need (`tiepdan bench bridge|echo|recording|replay`): the dev packages
# (playwright drives the echo pages; moto is the recording bench's S3), Debian's Chromium,
# ffmpeg and Janus (system-deps). Then run them, e.g. `.venv/bin/tiepdan bench echo --json`.
bench: dev system-deps

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
