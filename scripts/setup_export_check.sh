#!/usr/bin/env bash
# Installs the pinned pip packages of the export round trip (onnx, onnxruntime;
# python/requirements-export.txt) into the Python package's test venv (default
# .venv-python, over Debian's python3 with --system-site-packages: its torch,
# numpy, pytest). Idempotent: pip runs only when a pinned version is missing.
# Usage: scripts/setup_export_check.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-python}"
test -x "$venv/bin/python" || /usr/bin/python3 -m venv --system-site-packages "$venv"
if ! "$venv/bin/python" -c "import onnx, onnxruntime, sys
sys.exit(0 if (onnx.__version__, onnxruntime.__version__) == ('1.16.2', '1.19.2') else 1)" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r python/requirements-export.txt
fi
