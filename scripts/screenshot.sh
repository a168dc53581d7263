#!/usr/bin/env bash
# Regenerates docs/img/dashboard.png, the README's picture: the sweep page of
# the Fashion-MNIST quickstart (examples/quickstart.yaml, what `make demo`
# runs), served read-only by `compsweep dashboard --db FILE` and shot in
# headless Debian chromium by scripts/screenshot.mjs (1400 px wide, colour by
# bits, the teacher and dense-student reference lines; it fails if the page
# overflows or if any of that is missing).
#
# Usage: scripts/screenshot.sh [--db FILE] [path/to/compsweep]
#   --db FILE  an existing quickstart database (e.g. the out/quickstart.db of
#              `make demo`); without it the quickstart runs first, into
#              out/quickstart.db (a finished one is reused as it is: `compsweep
#              run` resumes and has nothing left to do), ~5-10 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
db=""
if [[ "${1:-}" == "--db" ]]; then
  db="${2:?--db needs a file}"
  shift 2
fi
bin="${1:-${COMPSWEEP_BIN:-}}"
if [[ -z "$bin" ]]; then
  for c in build/compsweep build-web/compsweep; do [[ -x "$c" ]] && bin="$c" && break; done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "screenshot: build compsweep first (or pass its path)" >&2; exit 1; }
[[ -d tests/e2e/node_modules ]] || (cd tests/e2e && npm ci --no-audit --no-fund)
[[ -d web/node_modules ]] || (cd web && npm ci --no-audit --no-fund)
if [[ -z "$db" ]]; then
  db=out/quickstart.db
  mkdir -p out
  # The same sweep as `make demo`, without the dashboard (the picture is taken
  # from the finished file below).
  "$bin" run examples/quickstart.yaml --workers 2 --threads 1 --db "$db" --cache-dir out/cache --no-serve
fi
node scripts/screenshot.mjs --bin "$bin" --db "$db" --out docs/img/dashboard.png
