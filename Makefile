# The two commands: `make book` and `make test`. Both set up .venv when needed.
# `make execute` re-runs every chapter under the book profile (stored outputs).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard book/[0-9]*.ipynb))

.PHONY: book test execute benchmark check-site gpu-check clean help

help:
	@echo "make book      build the HTML book offline into _build/html (from stored outputs)"
	@echo "make test      unit tests, notebook hygiene, every chapter under the smoke profile, strict book build, site check"
	@echo "make execute   re-run every chapter under the book profile and store the outputs"
	@echo "make benchmark CoordConv2d overhead against nn.Conv2d"
	@echo "make check-site open every page of the built book in headless Chromium and check it (installs chromium if missing)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -e .
	touch $(STAMP)

book: $(STAMP)
	$(JB) build . --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: $(STAMP)
	COORDLIB_PROFILE=smoke $(PY) -m pytest tests $(NOTEBOOKS) \
	    --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
	$(JB) build . -W -n --keep-going
	$(MAKE) --no-print-directory check-site

execute: $(STAMP)
	COORDLIB_PROFILE=book $(PY) -m coordlib.book.execute $(NOTEBOOKS)

# On a machine with a GPU: every chapter under smoke on CUDA, then timed slices of the gpu profile
# (tools/gpu_check.py; report in book/results/gpu/gpu_check.json). Without CUDA it stops and says so.
gpu-check: $(STAMP)
	$(PY) tools/gpu_check.py

benchmark: $(STAMP)
	$(PY) benchmarks/coordconv_overhead.py

# The rendered site in headless Chromium, driven by Playwright (tools/check_site.py); screenshots in
# _build/screenshots. The pages' CDN files come from npm (npm pack, cached in _build/cdn: offline after one run).
# Installs Debian's chromium when no Chromium or Chrome is on PATH (as root, or with sudo): Playwright never
# downloads a browser of its own.
check-site: book
	@$(PY) tools/check_site.py --which >/dev/null 2>&1 || { \
	    echo "No Chromium or Chrome found: installing Debian's chromium with apt-get"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -q && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }
	$(PY) tools/check_site.py

clean:
	rm -rf _build .pytest_cache
