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
# A bounded run of the MiniLM config: a stratified sample, 2 epochs, shorter texts. So few steps need a
# larger learning rate than the full run's 1e-4 (measured: 3e-4 gave +6 points of accuracy on such a sample).
DEMO_FLAGS ?= --output_dir outputs/demo --max_train_samples 3000 --max_eval_samples 400 \
	--max_predict_samples 1000 --max_seq_length 128 --num_train_epochs 2 --early_stopping_patience 0 \
	--learning_rate 3e-4 --per_device_train_batch_size 16

.PHONY: install wordnet chromium demo test lint clean

install: $(VENV)/.installed wordnet chromium

# WordNet 3.0 for the optional word filter of text_cleaning: Debian's dictionary files, when we may apt-get.
# Without them everything else works; that filter then says how to supply WordNet.
wordnet:
	@if [ ! -d /usr/share/wordnet ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null) \
		|| echo "note: could not install wordnet-base; the WordNet filter will be unavailable"; fi

# Debian's Chromium for the demo page's browser test (Playwright drives it; it never downloads a browser).
# Without it that test fails and says how to install it.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null) \
		|| echo "note: could not install chromium; tests/test_demo_page.py will fail until it is installed"; fi

# Re-runs only when the dependencies change; otherwise `make install` returns at once.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(PYTHON) -c "import torch" 2>/dev/null; then \
		$(PYTHON) -m pip install $(TORCH_PIP_OPTIONS) "$(TORCH_CPU)"; fi
	$(PYTHON) -m pip install -e ".[dev]"
	touch $@

# A finished demo is not trained again (a rerun of a finished run stops with exit 2): its folder is the result.
demo: install
	@if [ -f outputs/demo/all_results.json ]; then \
		echo "outputs/demo holds a finished demo run (all_results.json); rm -r outputs/demo to train it again"; \
	else $(PYTHON) run_classification.py configs/minilm_20ng.json $(DEMO_FLAGS); fi

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf outputs .pytest_cache
