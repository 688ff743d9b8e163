PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install bench clean

# compileall: an editable install leaves the project's own modules uncompiled, and where
# PYTHONDONTWRITEBYTECODE is set (as on this CI machine) every process would compile them again
$(BIN)/reliefmatch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q flows matchers schemas
	touch $@

install: $(BIN)/reliefmatch

demo: install
	$(BIN)/reliefmatch demo

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .reliefmatch out
