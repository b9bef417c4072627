# Two commands do all the set-up (see README):
#   make figures   regenerate every figure at the default CPU scale, then the claims ledger
#   make test      run the test suite under the derandomised `ci` Hypothesis profile
PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel of torch. CUDA users: make test TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
# Test worker processes (pytest-xdist), one thread each: the CI machine's 2 cores. More cores: make test TEST_WORKERS=8
TEST_WORKERS ?= 2
BIN    := $(VENV)/bin

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.PHONY: setup test figures bench ledger
setup: $(VENV)/.installed

# The architecture and the style are checked with the tests: import-linter's layer contracts (pyproject.toml), then
# ruff's lint and format check, then pytest.
test: $(VENV)/.installed
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --hypothesis-profile=ci -q

figures: $(VENV)/.installed
	$(BIN)/python -m studies
	$(BIN)/python -m sandbox.reporting.ledger

ledger: $(VENV)/.installed
	$(BIN)/python -m sandbox.reporting.ledger

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks
