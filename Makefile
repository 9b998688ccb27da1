# The two commands a newcomer needs: `make demo` and `make test` (each installs first).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# CPU machines get this CPU build of torch before the project is installed; on a machine with an
# NVIDIA driver pip resolves setup.cfg's `torch>=2.4` to its default CUDA build instead.
TORCH_CPU ?= torch==2.13.0
# Extra pip options for that torch install, e.g. PyTorch's CPU-only wheel index on other machines.
TORCH_PIP_OPTIONS ?=
# The real corpora: $TEXTCLS_DATA_DIR, else ../shared/data when it exists, else the network.
TEXTCLS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export TEXTCLS_DATA_DIR
DEMO_FLAGS ?= --output_dir outputs/demo --max_train_samples 1500 --max_eval_samples 400 \
	--max_predict_samples 1000 --max_seq_length 128 --num_train_epochs 2 --early_stopping_patience 0

.PHONY: install demo test lint clean

install: $(VENV)/.installed

# Re-runs only when the dependencies change; otherwise `make install` returns at once.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(PYTHON) -c "import torch" 2>/dev/null; then \
		$(PYTHON) -m pip install $(TORCH_PIP_OPTIONS) "$(TORCH_CPU)"; fi
	$(PYTHON) -m pip install -e ".[dev]"
	touch $@

demo: install
	$(PYTHON) run_classification.py configs/minilm_20ng.json $(DEMO_FLAGS)

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf outputs .pytest_cache
