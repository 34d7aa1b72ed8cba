PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo seed test fuzz differential lint bench bench-guards bench-engine schema clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/hub

demo: $(BIN)/hub
	$(BIN)/hub serve --demo

seed: $(BIN)/hub
	$(BIN)/hub seed --profile city-2018

test: $(BIN)/hub
	$(BIN)/ruff check hub tests bench
	$(BIN)/pytest

fuzz: $(BIN)/hub
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/pytest tests/test_fuzz.py tests/test_schemathesis.py

differential: $(BIN)/hub
	DIFFERENTIAL_EXAMPLES=$${DIFFERENTIAL_EXAMPLES:-20000} $(BIN)/pytest tests/test_reads_differential.py

bench: $(BIN)/hub
	$(BIN)/python bench/mutations.py

bench-guards: $(BIN)/hub
	$(BIN)/python bench/guards.py

.PHONY: bench-reads
bench-reads: $(BIN)/hub
	$(BIN)/python bench/read_peer.py

bench-engine: $(BIN)/hub
	$(BIN)/python bench/engine.py $(if $(SCALE),--scale $(SCALE))

schema: $(BIN)/hub
	$(BIN)/hub export-schema > schema.graphql

clean:
	rm -rf $(VENV) .hub
