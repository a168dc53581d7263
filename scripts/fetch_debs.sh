#!/usr/bin/env bash
# Gets here, with network, what scripts/gpu_check.sh needs on a GPU machine
# without network, into .deb/ (ignored by git; carry it with the checkout):
#   .deb/debs/*.deb     Debian 12 packages of compsweep's C++ dependencies
#                       (headers, CMake/pkg-config files, libraries) and the
#                       libraries those need, less glibc/libstdc++/libgcc;
#   .deb/fashion-mnist/ a slice of Fashion-MNIST (first 10,000 training and
#                       all 10,000 test images, same IDX .gz format), from
#                       Debian's dataset-fashion-mnist (scripts/setup.sh).
# About 23 MB in all. The .debs are unpacked where they are used (the Boost
# headers alone are ~150 MB unpacked):
#   scripts/fetch_debs.sh --unpack PREFIX   dpkg -x (or ar + tar) every .deb
#                                           into PREFIX and point its
#                                           pkg-config files at PREFIX.
# Usage: scripts/fetch_debs.sh [--unpack PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.deb

# Build-time packages (what the top-level CMakeLists finds) ...
DEV=(
  cppzmq-dev libzmq3-dev libsqlite3-dev libsqlitecpp-dev libyaml-cpp-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libxxhash-dev libboost1.74-dev zlib1g-dev
  pkgconf-bin libpkgconf3
)
# ... and the shared libraries they link, with what those need in turn.
RUNTIME=(libzmq5 libyaml-cpp0.7 libspdlog1.10 libfmt9 libsqlite3-0 libxxhash0 zlib1g)
# The C/C++ runtime comes from the machine's own compiler.
BASE='^(libc6|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt1)$'

unpack() {  # $1: prefix
  local prefix deb n=0
  prefix=$(mkdir -p "$1" && cd "$1" && pwd)
  compgen -G "$DEST/debs/*.deb" >/dev/null ||
    { echo "fetch_debs: no .deb files in $DEST/debs; run scripts/fetch_debs.sh where there is network" >&2; exit 1; }
  for deb in "$DEST"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$deb" "$prefix"
    else  # a .deb is an ar archive holding data.tar.{xz,zst,gz}
      local tmp
      tmp=$(mktemp -d)
      (cd "$tmp" && ar x "$(cd - >/dev/null && realpath "$deb")")
      tar -xf "$tmp"/data.tar.* -C "$prefix"
      rm -rf "$tmp"
    fi
    n=$((n + 1))
  done
  # pkg-config files name /usr; make them name the prefix.
  find "$prefix/usr" -name '*.pc' -print0 |
    xargs -0 -r sed -i -E "s@^prefix=/usr\$@prefix=$prefix/usr@"
  # pkgconf from the prefix, for machines without pkg-config.
  mkdir -p "$prefix/bin"
  cat >"$prefix/bin/pkg-config" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$prefix/usr/bin/pkgconf" "\$@"
EOF
  chmod +x "$prefix/bin/pkg-config"
  echo "fetch_debs: $n packages unpacked into $prefix"
}

if [[ "${1:-}" == "--unpack" ]]; then
  [[ -n "${2:-}" ]] || { echo "usage: scripts/fetch_debs.sh --unpack PREFIX" >&2; exit 2; }
  unpack "$2"
  exit 0
fi
[[ -z "${1:-}" ]] || { echo "usage: scripts/fetch_debs.sh [--unpack PREFIX]" >&2; exit 2; }

command -v apt-get >/dev/null || { echo "fetch_debs: needs apt-get (Debian 12)" >&2; exit 1; }
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${RUNTIME[@]}" | grep -v '^[ <]' | sort -u |
  grep -Ev "$BASE")
rm -rf "$DEST/debs"
mkdir -p "$DEST/debs"
(cd "$DEST/debs" && apt-get download -q "${DEV[@]}" "${closure[@]}")

# Highest glibc symbol version the shared libraries need: the GPU machine's
# glibc must be at least this (Debian 12 has 2.36; Ubuntu 22.04 2.35).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for deb in "$DEST"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp"; done
glibc=$(find "$tmp" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "${glibc#GLIBC_}" >"$DEST/debs/GLIBC_REQUIRED"
# Likewise the libstdc++ symbol version (GCC 12's is GLIBCXX_3.4.30).
find "$tmp" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null |
  grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1 >"$DEST/debs/GLIBCXX_REQUIRED"

# Fashion-MNIST slice: the IDX header's count is rewritten with the data.
src=/usr/share/datasets/fashion-mnist
if [[ -f "$src/train-images-idx3-ubyte.gz" ]]; then
  mkdir -p "$DEST/fashion-mnist"
  python3 - "$src" "$DEST/fashion-mnist" <<'EOF'
import gzip, struct, sys, os
src, dst = sys.argv[1], sys.argv[2]
def cut(name, n, item_bytes):
    with gzip.open(os.path.join(src, name)) as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = (magic & 0xFF) - 1
    header = 8 + 4 * dims
    n = min(n, count)
    out = data[:4] + struct.pack(">I", n) + data[8:header] + data[header:header + n * item_bytes]
    with gzip.open(os.path.join(dst, name), "wb", compresslevel=9) as f:
        f.write(out)
cut("train-images-idx3-ubyte.gz", 10000, 28 * 28)
cut("train-labels-idx1-ubyte.gz", 10000, 1)
cut("t10k-images-idx3-ubyte.gz", 10000, 28 * 28)
cut("t10k-labels-idx1-ubyte.gz", 10000, 1)
EOF
else
  echo "fetch_debs: $src missing (scripts/setup.sh installs dataset-fashion-mnist); no dataset slice" >&2
  exit 1
fi
echo "fetch_debs: $(ls "$DEST"/debs/*.deb | wc -l) packages, glibc >= ${glibc#GLIBC_} needed; $(du -sh "$DEST" | cut -f1) in $DEST"
