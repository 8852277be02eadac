# The two commands: `make book` and `make test`. Both set up .venv when needed.
# `make execute` re-runs every chapter under the book profile (stored outputs).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard book/[0-9]*.ipynb))

.PHONY: book test execute benchmark clean help

help:
	@echo "make book      build the HTML book offline into _build/html (from stored outputs)"
	@echo "make test      unit tests, notebook hygiene, every chapter under the smoke profile, strict book build"
	@echo "make execute   re-run every chapter under the book profile and store the outputs"
	@echo "make benchmark CoordConv2d overhead against nn.Conv2d"

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

execute: $(STAMP)
	COORDLIB_PROFILE=book $(PY) -m coordlib.execute $(NOTEBOOKS)

benchmark: $(STAMP)
	$(PY) benchmarks/coordconv_overhead.py

clean:
	rm -rf _build .pytest_cache
