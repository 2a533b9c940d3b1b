# cartgraph: the two commands of the README.
#   make demo   set up (first time) and run the demo on the built-in synthetic shop
#   make test   set up (first time), start the services the tests use, run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fast]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cartgraph demo

# The tests need a real Neo4j: 'neo4j run' starts a private one in a throw-away home
# (fetched once from Maven Central; never a server you started yourself, whose data the tests would clear),
# passes NEO4J_URI to pytest and stops the server afterwards, even when tests fail.
# With NEO4J_URI already set (your own server) it runs pytest against that one.
test: $(STAMP)
	$(BIN)/cartgraph neo4j run -- $(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
