# Two commands do all the set-up (see README):
#   make figures   regenerate every figure at the default CPU scale, then the claims ledger
#   make test      run the test suite under the derandomised `ci` Hypothesis profile
PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel of torch. CUDA users: make test TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.PHONY: setup test figures bench ledger
setup: $(VENV)/.installed

test: $(VENV)/.installed
	$(BIN)/python -m pytest --hypothesis-profile=ci -q

figures: $(VENV)/.installed
	$(BIN)/python -m studies
	$(BIN)/python -m sandbox.ledger

ledger: $(VENV)/.installed
	$(BIN)/python -m sandbox.ledger

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks
