#!/usr/bin/env bash
# Installs Debian's Slurm (slurmctld, slurmd, client tools) and MUNGE for the
# single-node Slurm test (tests/slurm/). Idempotent: apt runs only when
# something is missing. Services are not started or configured here; the test
# writes its own slurm.conf and starts the daemons itself.
# Usage: scripts/setup_slurm.sh
set -euo pipefail

PKGS=(slurmctld slurmd slurm-client munge sqlite3 iproute2)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "setup_slurm: all Slurm packages present"
  exit 0
fi
echo "setup_slurm: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
# Other apt runs on a shared machine wait for this one (and it for them).
LOCK=()
command -v flock >/dev/null 2>&1 && LOCK=(flock /tmp/apt.lock)
$SUDO "${LOCK[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO "${LOCK[@]}" \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
