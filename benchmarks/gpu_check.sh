#!/usr/bin/env bash
# GPU readiness check (benchmarks/gpu_check.py says what it runs and checks); about 8 minutes on one modern GPU.
#   TEXTCLS_DATA_DIR=../shared/data bash benchmarks/gpu_check.sh [--steps 150] [--output_dir DIR]
# On a machine without a CUDA GPU it says so and exits 0 without running anything. Exit 1: a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible to torch on $(hostname): nothing run."
    exit 0
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_bf16_supported() else 1)"; then
    echo "gpu_check: this GPU has no bf16 (NVIDIA Ampere or newer needed): nothing run."
    exit 0
fi
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" benchmarks/gpu_check.py "$@"
