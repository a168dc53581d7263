#!/usr/bin/env bash
# Installs Debian's Slurm (slurmctld, slurmd, client tools) and MUNGE for the
# single-node Slurm test (tests/slurm/). Idempotent: apt runs only when
# something is missing. Services are not started or configured here; the test
# writes its own slurm.conf and starts the daemons itself.
# Usage: scripts/setup_slurm.sh
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/apt_install.sh setup_slurm slurmctld slurmd slurm-client munge sqlite3 iproute2
