#!/usr/bin/env bash
# Installs the peers' pinned packages (requirements.txt) into bench/peers/.venv
# (ignored by git). About 4 GB on disk: PyPI's Linux torch wheel brings its
# CUDA libraries, which Python's torch module loads even on a CPU machine.
# Usage: bench/peers/setup.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements"
if [[ "${1:-}" != "--force" && -f "$stamp" ]] && cmp -s "$stamp" "$here/requirements.txt"; then
  echo "setup: $venv has requirements.txt"
  exit 0
fi
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  { echo "setup: needs Python >= 3.10 ($("$PY" --version))" >&2; exit 1; }
start=$(date +%s)
rm -rf "$venv"
"$PY" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off \
  -r "$here/requirements.txt"
"$venv/bin/python" -m pip freeze --disable-pip-version-check >"$venv/freeze.txt"
cp "$here/requirements.txt" "$stamp"
echo "setup: $venv ready ($(du -sh "$venv" | cut -f1), $(($(date +%s) - start)) s)"
