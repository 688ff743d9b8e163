PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install bench clean

$(BIN)/reliefmatch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/reliefmatch

demo: install
	$(BIN)/reliefmatch demo

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .reliefmatch out
