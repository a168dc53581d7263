#!/usr/bin/env bash
# Installs what the libFuzzer targets in tests/fuzz need on top of
# scripts/setup.sh: Debian's clang 14 and its compiler-rt (libFuzzer, ASan,
# UBSan runtimes). Idempotent: apt runs only when something is missing.
# Usage: scripts/setup_fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

./scripts/apt_install.sh setup_fuzz clang libclang-rt-14-dev
