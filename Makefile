# Two entry points for a fresh machine:
#   make demo  -> create .venv, install xrdsym (light: reading, indexing, classifying; no torch,
#                 no matplotlib), classify the bundled example pattern
#   make test  -> create .venv, install xrdsym with training and dev tools (CPU torch), run ruff,
#                 mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LIGHT := $(VENV)/.installed-light
FULL := $(VENV)/.installed-full

.PHONY: demo test setup setup-full lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reading, indexing and classifying: numpy, scipy, ONNX Runtime, spglib, gemmi, pybaselines.
$(LIGHT): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything: the CPU build of PyTorch first, pinned, so no CUDA build is pulled in.
$(FULL): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[plot,train,dev]"
	touch $@ $(LIGHT)

setup: $(LIGHT)

setup-full: $(FULL)

demo: setup
	$(BIN)/xrdsym classify src/xrdsym/examples/PbSO4_CuKa.csv --wavelength CuKa1 --top-k 3

lint: setup-full
	$(BIN)/ruff check src tests benchmarks research scripts
	$(BIN)/ruff format --check src tests benchmarks research scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
