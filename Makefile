# Two commands set everything up on a fresh machine with Python 3.11:
#   make book   builds the static site into _build/html (creating .venv on first use)
#   make test   builds the book, then runs the library tests, the notebook checks (nbval,
#               strict) and the browser checks of the built site
# and one to read the book:
#   make serve  serves _build/html on http://127.0.0.1:8000 (PORT=8001 make serve to change)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SITE   := _build/html
PORT   ?= 8000

# MathJax ships with the site so that math renders offline (see mathjax_path in _config.yml).
# Only what tex-mml-chtml needs is kept: the combined component, the TeX/MathML extensions it
# autoloads, the menu and the CHTML fonts (about 4 MB of the package's 24 MB).
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := _vendor/mathjax
MATHJAX         := $(MATHJAX_DIR)/.version-$(MATHJAX_VERSION)

.PHONY: venv book mathjax serve test bench mutate clean

$(STAMP): requirements.txt pyproject.toml book/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

mathjax: $(MATHJAX)

$(MATHJAX):
	rm -rf $(MATHJAX_DIR) $(MATHJAX_DIR).tmp
	mkdir -p $(MATHJAX_DIR).tmp $(MATHJAX_DIR)/output
	cd $(MATHJAX_DIR).tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) > /dev/null
	tar -xzf $(MATHJAX_DIR).tmp/mathjax-$(MATHJAX_VERSION).tgz -C $(MATHJAX_DIR).tmp
	cd $(MATHJAX_DIR).tmp/package && cp -R LICENSE es5/tex-mml-chtml.js es5/input es5/ui es5/a11y ../../mathjax/
	cp -R $(MATHJAX_DIR).tmp/package/es5/output/chtml $(MATHJAX_DIR)/output/
	rm -rf $(MATHJAX_DIR).tmp
	touch $@

# Notebooks are executed through the jupyter-cache in _build/.jupyter_cache: only a notebook
# whose code changed runs again, and only changed pages are re-read. Warnings are errors (-W -n);
# the log and exit status are kept in _build/ for tests/test_site.py. An incremental build does
# not repeat the warnings of pages it did not re-read, so `make test` re-reads every page
# (BOOKFLAGS=--all; the notebooks still come from the cache).
BOOKFLAGS ?=
book: $(STAMP) $(MATHJAX)
	@mkdir -p _build
	@{ $(BIN)/jupyter-book build . -W -n --keep-going $(BOOKFLAGS); echo $$? > _build/book.status; } 2>&1 | tee _build/book.log
	@exit "$$(cat _build/book.status)"

serve:
	@test -f $(SITE)/index.html || $(MAKE) --no-print-directory book
	@echo "Serving $(SITE) at http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(SITE)

# The book first (a failed build is reported by tests/test_site.py, so the other tests still
# run), then everything else on two workers; nbval needs --dist loadscope (one notebook, one
# kernel, one worker).
test: $(STAMP)
	-@$(MAKE) --no-print-directory book BOOKFLAGS=--all
	$(BIN)/python -m pytest -n 2 --dist loadscope --nbval

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Plants realistic errors in adamlib one at a time and checks that the tests catch each
# (tools/mutate.py; slow, not part of make test).
mutate: $(STAMP)
	$(BIN)/python tools/mutate.py

clean:
	rm -rf _build
