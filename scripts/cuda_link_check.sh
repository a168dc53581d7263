#!/usr/bin/env bash
# Evidence, on a machine with neither a GPU nor a CUDA toolkit, that a
# CUDA-enabled compsweep worker compiles and links against the CUDA LibTorch
# 2.x of the pinned pip wheel:
#   1. scripts/setup_torch.sh --cuda --venv .venv-cuda: torch with every
#      nvidia-* wheel it needs plus the pip parts of the CUDA toolkit (nvcc,
#      crt, nvvm, headers, cudart, nvrtc, nvtx); about 3.4 GB to download.
#   2. Assembles build-cuda/toolkit, the layout CMake's FindCUDA and
#      FindCUDAToolkit expect (bin/nvcc, include/, lib64/ with the unversioned
#      .so names, nvvm/, targets/x86_64-linux), as symlinks into the wheels
#      (they ship nvidia/cu13/{bin,include,lib,nvvm} without the .so links).
#   3. Configures build-cuda/tk with the wheel's own TorchConfig.cmake
#      (COMPSWEEP_TORCH_CUDA=TOOLKIT: enable_language(CUDA), nvcc's compiler
#      test, find_package(CUDAToolkit)) and builds compsweep-worker (the
#      worker executable: experiments, worker, LibTorch); then the same with COMPSWEEP_TORCH_CUDA=LIBS in
#      build-cuda/libs (no toolkit: the wheel's libraries only) unless --toolkit-only.
#   4. Checks that the worker loads libtorch_cuda.so and that
#      `--device cuda` refuses cleanly here (no driver, no GPU).
# Prints one summary line per check; exit status 0 when all pass.
# Usage: scripts/cuda_link_check.sh [--toolkit-only] [--jobs N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=2
BOTH=1
while (($#)); do
  case "$1" in
    --toolkit-only) BOTH=0 ;;
    --jobs) JOBS=$2; shift ;;
    *) echo "cuda_link_check: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

VENV=$ROOT/.venv-cuda
scripts/setup_torch.sh --cuda --venv "$VENV"
PY=$VENV/bin/python
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
CU=$SITE/nvidia/cu13
for f in bin/nvcc include/cuda_runtime.h lib/libcudart.so.13 nvvm/bin; do
  [[ -e $CU/$f ]] || { echo "cuda_link_check: $CU/$f missing from the pip CUDA wheels" >&2; exit 1; }
done

TK=$ROOT/build-cuda/toolkit
rm -rf "$TK"
mkdir -p "$TK/bin" "$TK/lib64/stubs" "$TK/targets/x86_64-linux"
for f in "$CU"/bin/*; do ln -s "$f" "$TK/bin/"; done
ln -s "$CU/include" "$TK/include"
ln -s "$CU/nvvm" "$TK/nvvm"
for f in "$CU"/lib/*; do ln -s "$f" "$TK/lib64/"; done
for f in "$CU"/lib/lib*.so.*; do  # libcudart.so.13 -> also libcudart.so
  b=$(basename "$f")
  [[ -e $TK/lib64/${b%%.so.*}.so ]] || ln -s "$f" "$TK/lib64/${b%%.so.*}.so"
done
ln -s ../../include "$TK/targets/x86_64-linux/include"
ln -s ../../lib64 "$TK/targets/x86_64-linux/lib"
"$TK/bin/nvcc" --version | tail -1

export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
build() {  # build DIR MODE [cmake args]
  local dir=$1 mode=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$ROOT/cmake/torch-pip" \
    -DCOMPSWEEP_TORCH_PYTHON="$PY" -DCOMPSWEEP_TORCH_CUDA="$mode" -DCOMPSWEEP_WERROR=ON \
    -DCOMPSWEEP_BUILD_TESTS=OFF -DCOMPSWEEP_BUILD_BENCH=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { tail -n 40 "$dir.configure.log"; echo "cuda_link_check: configure ($mode) failed" >&2; return 1; }
  grep -E 'CUDA link mode|PyTorch: CUDA|CUDA compiler identification|Found CUDAToolkit' "$dir.configure.log" || true
  nice -n 10 cmake --build "$dir" -j"$JOBS" --target compsweep-worker >"$dir.build.log" 2>&1 ||
    { grep -E 'error|undefined' "$dir.build.log" | head -20; echo "cuda_link_check: build ($mode) failed" >&2; return 1; }
}
check() {  # check DIR MODE
  local dir=$1 mode=$2 bin=$1/compsweep-worker out rc
  ldd "$bin" >"$dir.ldd.txt"
  if grep -q 'not found' "$dir.ldd.txt"; then
    echo "FAIL $mode: $(grep 'not found' "$dir.ldd.txt" | tr -s ' \n' ' ')"
    return 1
  fi
  grep -q libtorch_cuda.so "$dir.ldd.txt" || { echo "FAIL $mode: worker does not load libtorch_cuda.so"; return 1; }
  echo "ok   $mode: $bin links $(grep -oE 'lib(torch_cuda|c10_cuda|cudart|cublas|cudnn|nccl)\.so[.0-9]*' "$dir.ldd.txt" | sort -u | tr '\n' ' ')"
  set +e
  out=$(timeout 60 "$bin" worker --connect tcp://127.0.0.1:9 --device cuda 2>&1)
  rc=$?
  set -e
  if ((rc != 0 && rc < 124)) && grep -q 'CUDA is not available' <<<"$out"; then
    echo "ok   $mode: --device cuda refused here (exit $rc): $(grep 'CUDA is not available' <<<"$out" | head -1)"
  else
    echo "FAIL $mode: --device cuda did not refuse cleanly (exit $rc): $out"
    return 1
  fi
}

status=0
build "$ROOT/build-cuda/tk" TOOLKIT -DCUDAToolkit_ROOT="$TK" -DCUDA_TOOLKIT_ROOT_DIR="$TK" \
  -DCMAKE_CUDA_COMPILER="$TK/bin/nvcc" && check "$ROOT/build-cuda/tk" TOOLKIT || status=1
if ((BOTH)); then
  build "$ROOT/build-cuda/libs" LIBS && check "$ROOT/build-cuda/libs" LIBS || status=1
fi
exit $status
