# Two entry points for a fresh machine:
#   make demo  -> create .venv, install xrdsym, classify the bundled example pattern
#   make test  -> create .venv, install xrdsym with dev tools, run ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup lint clean

$(BIN)/xrdsym: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of PyTorch first, pinned, so no CUDA build is pulled in.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/xrdsym

setup: $(BIN)/xrdsym

demo: setup
	$(BIN)/xrdsym classify src/xrdsym/examples/PbSO4_CuKa.csv --wavelength CuKa --top-k 3

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
