#!/usr/bin/env bash
# Installs the Debian packages named that are not installed yet (idempotent: apt
# runs only when something is missing), for every setup script of the project.
# Concurrent apt runs on a shared machine wait for each other (flock).
# Usage: scripts/apt_install.sh WHO PACKAGE...   (WHO names the caller in messages)
set -euo pipefail
who="$1"
shift
missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "$who: all Debian packages present"
  exit 0
fi
echo "$who: installing ${missing[*]}"
SUDO=()
[[ $(id -u) -ne 0 ]] && SUDO=(sudo)
LOCK=()
command -v flock >/dev/null 2>&1 && LOCK=(flock /tmp/apt.lock)
"${SUDO[@]}" "${LOCK[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" "${LOCK[@]}" \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
