#!/usr/bin/env bash
# Fails when a C++ source differs from what the committed .clang-format makes of it,
# and names the files. Fix with:
#   git ls-files '*.cc' '*.h' | xargs clang-format -i
# Usage: scripts/check_format.sh [path/to/clang-format]
set -euo pipefail
cd "$(dirname "$0")/.."
cf="${1:-clang-format}"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else
  mapfile -t files < <(find common experiments worker coordinator cli bench tests \
                         -name node_modules -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
fi
bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} file(s) not formatted with .clang-format:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix: git ls-files '*.cc' '*.h' | xargs $cf -i" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
