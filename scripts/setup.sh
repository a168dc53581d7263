#!/usr/bin/env bash
# Installs every Debian package compsweep needs (idempotent: apt runs only when
# something is missing), then the npm packages from the committed lock files.
# Usage: scripts/setup.sh [--with-browser]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  cmake make g++ pkg-config ccache
  libtorch-dev libopenblas0-pthread zlib1g-dev
  libzmq3-dev cppzmq-dev
  libsqlite3-dev libsqlitecpp-dev
  libyaml-cpp-dev libboost-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  python3-numpy  # examples/numpy/make_data.py, common/testdata/make_npy_fixtures.py
)
if [[ "${1:-}" == "--with-browser" ]]; then
  PKGS+=(chromium clang-format)  # the browser test and the style check
  command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi

./scripts/apt_install.sh setup "${PKGS[@]}"

if [[ "${1:-}" == "--with-browser" && -f tests/e2e/package-lock.json ]]; then
  if [[ ! -d tests/e2e/node_modules ]]; then
    (cd tests/e2e && npm ci --no-audit --no-fund)
  fi
fi
if [[ -f web/package-lock.json && ! -d web/node_modules ]]; then
  command -v npm >/dev/null 2>&1 && (cd web && npm ci --no-audit --no-fund) || true
fi
