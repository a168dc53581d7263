#!/usr/bin/env bash
# Installs every Debian package compsweep needs (idempotent: apt runs only when
# something is missing), then the npm packages from the committed lock files.
# Usage: scripts/setup.sh [--with-browser] [--with-python]
#   --with-browser  chromium, clang-format, npm: the browser test and the style check
#   --with-python   Debian's Python 3 with PyTorch, pandas, pytest, venv/pip/setuptools:
#                   the Python package's tests and examples/program (make test-python)
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=0
with_python=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-python) with_python=1 ;;
    *) echo "setup.sh: unknown option '$arg' (--with-browser, --with-python)" >&2; exit 2 ;;
  esac
done

PKGS=(
  cmake make g++ pkg-config ccache
  libtorch-dev libopenblas0-pthread zlib1g-dev
  libonnx-dev libprotobuf-dev  # ONNX export (experiments/onnx_export.cc)
  libzmq3-dev cppzmq-dev
  libsqlite3-dev libsqlitecpp-dev
  libyaml-cpp-dev libboost-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  python3-numpy  # examples/numpy/make_data.py, common/testdata/make_npy_fixtures.py
)
if ((with_browser)); then
  PKGS+=(chromium clang-format)  # the browser test and the style check
  command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi
if ((with_python)); then
  PKGS+=(python3 python3-venv python3-pip python3-setuptools python3-wheel
         python3-pytest python3-numpy python3-torch python3-pandas)
fi

./scripts/apt_install.sh setup "${PKGS[@]}"

if ((with_browser)) && [[ -f tests/e2e/package-lock.json ]]; then
  if [[ ! -d tests/e2e/node_modules ]]; then
    (cd tests/e2e && npm ci --no-audit --no-fund)
  fi
fi
# web/: uPlot (served to the page) and uvu (its unit tests, make test-main);
# a node_modules from before uvu was added is brought up to the lock file.
if [[ -f web/package-lock.json && ! -d web/node_modules/uvu ]]; then
  if ((with_browser)); then
    (cd web && npm ci --no-audit --no-fund)
  else
    command -v npm >/dev/null 2>&1 && (cd web && npm ci --no-audit --no-fund) || true
  fi
fi
