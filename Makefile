# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine
# with Python 3.11+: they create .venv and install what they need into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench torture clean

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py

test: $(VENV)/.installed-dev lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Test modules (and classes) are spread over as many workers as the machine has cores.
unit: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto --dist loadscope

# PostgreSQL figures need AGENTSTORE_TEST_POSTGRES_URL; PEER_PYTHON, a Python with the
# eventsourcing library, adds its recorders to the SQL table.
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_memory.py
	$(BIN)/python benchmarks/bench_jsonl.py
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_sql.py $(if $(PEER_PYTHON),--peer-python $(PEER_PYTHON))
	$(BIN)/python benchmarks/bench_async.py
	$(BIN)/python benchmarks/bench_recording.py
	$(BIN)/python benchmarks/bench_streaming.py
	$(BIN)/python benchmarks/bench_server.py
	$(BIN)/python benchmarks/bench_ui.py
	$(BIN)/python benchmarks/bench_peers.py
	$(BIN)/python benchmarks/bench_otel.py
	$(BIN)/python benchmarks/bench_langgraph.py

torture: $(VENV)/.installed
	$(BIN)/python benchmarks/crash_torture.py --kills 200

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis agent-data

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"agentstore needs Python 3.11 or newer; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes; the package itself is installed editable,
# with the price table the demo's LLM call is priced from.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[prices]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed
