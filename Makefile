# Two entry points: `make demo` (the main job) and `make test` (lint, then the whole suite).
# Each creates .venv when missing and installs only what changed since last time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# PyTorch is only a test-time reference and is optional: the comparison tests use it when
# installed and otherwise the values recorded from it in tests/reference/. When a PyTorch
# CPU wheel lies on local disk, `make test` installs it (the `torch` extra) from there;
# otherwise it installs no PyTorch, rather than resolving a multi-gigabyte build from the registry.
WHEELS := $(wildcard /opt/wheels)
LOCAL_TORCH := $(wildcard /opt/wheels/torch-*.whl)
comma := ,
TEST_EXTRAS := dev$(if $(LOCAL_TORCH),$(comma)torch)
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e ".[plot,progress]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e ".[$(TEST_EXTRAS)]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m deepgrad demo

# ruff (configured in pyproject.toml) and the import-cycle check; `make test` runs it first.
lint: $(VENV)/.installed-dev
	$(PY) -m ruff check src tests benchmarks tools examples
	$(PY) tools/check_imports.py

test: lint
	$(PY) -m pytest -q

bench: $(VENV)/.installed-dev
	$(PY) -m deepgrad bench

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
