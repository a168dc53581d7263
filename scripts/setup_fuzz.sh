#!/usr/bin/env bash
# Installs what the libFuzzer targets in tests/fuzz need on top of
# scripts/setup.sh: Debian's clang 14 and its compiler-rt (libFuzzer, ASan,
# UBSan runtimes). Idempotent: apt runs only when something is missing.
# Usage: scripts/setup_fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

PKGS=(clang libclang-rt-14-dev)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup_fuzz: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup_fuzz: clang and compiler-rt present"
fi
