#!/usr/bin/env bash
# Installs the replay benchmark's peers (Optuna, Syne Tune) and matplotlib into a
# venv under .cache/ (git-ignored), from the exact versions in requirements.txt
# (and requirements-lock.txt for their dependencies, when present).
# Usage: bench/search/setup.sh [--venv DIR]; prints the venv's python on the last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.cache/search-venv"
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) venv="$2"; shift ;;
    *) echo "setup.sh: unknown option '$1' (use --venv DIR)" >&2; exit 2 ;;
  esac
  shift
done
stamp="$venv/.compsweep-search"
want="$(cat "$here"/requirements*.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip==24.0 >&2
  if [ -f "$here/requirements-lock.txt" ]; then
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements-lock.txt" >&2
  else
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" >&2
  fi
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
