#!/usr/bin/env bash
# Regenerates docs/img/dashboard.png: runs the browser test (a real
# `compsweep run` of examples/tiny-synthetic.yaml in headless chromium) and keeps
# its screenshot of the sweep view.
# Usage: scripts/screenshot.sh [path/to/compsweep]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${COMPSWEEP_BIN:-}}"
if [[ -z "$bin" ]]; then
  for c in build/compsweep build-web/compsweep; do [[ -x "$c" ]] && bin="$c" && break; done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "screenshot: build compsweep first (or pass its path)" >&2; exit 1; }
[[ -d tests/e2e/node_modules ]] || (cd tests/e2e && npm ci --no-audit --no-fund)
[[ -d web/node_modules ]] || (cd web && npm ci --no-audit --no-fund)
mkdir -p docs/img
COMPSWEEP_BIN="$(realpath "$bin")" SCREENSHOT_OUT="$PWD/docs/img/dashboard.png" \
  node --test tests/e2e/dashboard.test.mjs
echo "screenshot: wrote docs/img/dashboard.png"
