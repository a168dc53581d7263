#!/usr/bin/env bash
# Installs the pinned PyTorch 2.x wheel from PyPI into a venv (default
# .venv-torch/, ignored by git) so that CMake can build against the LibTorch
# inside it (make build TORCH=pip, make test-torch2).
#
# PyPI's Linux torch wheels are CUDA builds. On a CPU machine only two of the
# CUDA runtime wheels are needed: libtorch_cpu.so itself lists libcudart and
# libcupti as NEEDED. Everything else of CUDA (cuBLAS, cuDNN, NCCL, ...) is
# needed only by libtorch_cuda.so, which a CPU build does not link (see
# cmake/torch-pip/TorchConfig.cmake). So the default install is
#   torch==2.11.0 --no-deps + nvidia-cuda-runtime + nvidia-cuda-cupti
# (about 560 MB to download instead of about 3.5 GB with every dependency).
# --cuda installs torch with all its dependencies plus the pip parts of the
# CUDA toolkit that CMake's CUDA support needs (nvcc, headers, nvrtc, nvtx), for
# scripts/cuda_link_check.sh.
#
# Usage: scripts/setup_torch.sh [--cuda] [--venv DIR] [--print-prefix]
#   --print-prefix  print the CMake prefix of the venv's torch and exit
#                   (torch.utils.cmake_prefix_path, found without importing
#                   torch: a CPU install cannot import it, since the Python
#                   module loads libtorch_cuda.so).
set -euo pipefail
cd "$(dirname "$0")/.."

# 2.11.0: the PyTorch of the GPU machines we borrow (one version to build
# against here and there); its wheel is a CUDA 13.0 build.
TORCH_VERSION=2.11.0
CUDART_VERSION=13.0.96   # nvidia-cuda-runtime, as cuda-toolkit==13.0.2 pins it
CUPTI_VERSION=13.0.85    # nvidia-cuda-cupti, idem
CUDA_TOOLKIT_VERSION=13.0.2

venv=.venv-torch
cuda=0
print_prefix=0
while (($#)); do
  case "$1" in
    --cuda) cuda=1 ;;
    --venv) venv="$2"; shift ;;
    --print-prefix) print_prefix=1 ;;
    *) echo "setup_torch: unknown option '$1' (use --cuda, --venv DIR, --print-prefix)" >&2; exit 2 ;;
  esac
  shift
done

prefix_of() {  # $1: a python; prints <site-packages>/torch/share/cmake
  "$1" - <<'EOF'
import importlib.util, os, sys
spec = importlib.util.find_spec("torch")
if spec is None or spec.origin is None:
    sys.exit("setup_torch: no torch module in this Python")
path = os.path.join(os.path.dirname(spec.origin), "share", "cmake")
if not os.path.isfile(os.path.join(path, "Torch", "TorchConfig.cmake")):
    sys.exit("setup_torch: %s has no Torch/TorchConfig.cmake" % path)
print(path)
EOF
}

if ((print_prefix)); then
  [[ -x "$venv/bin/python" ]] || { echo "setup_torch: no venv at $venv; run scripts/setup_torch.sh first" >&2; exit 1; }
  prefix_of "$venv/bin/python"
  exit 0
fi

stamp="$venv/.compsweep-torch"
want="torch=$TORCH_VERSION cudart=$CUDART_VERSION cupti=$CUPTI_VERSION cuda=$cuda"
if [[ -f "$stamp" ]] && grep -qxF "$want" "$stamp"; then
  echo "setup_torch: $venv has $want"
  exit 0
fi
# A full (--cuda) venv also serves a CPU build; keep it rather than shrink it.
if ((cuda == 0)) && [[ -f "$stamp" ]] && grep -qxF "${want% cuda=0} cuda=1" "$stamp"; then
  echo "setup_torch: $venv has the CUDA install of torch $TORCH_VERSION; using it"
  exit 0
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian's python3 has venv's pip only with python3-venv.
  echo "setup_torch: installing python3-venv"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  PY=/usr/bin/python3
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  { echo "setup_torch: torch $TORCH_VERSION needs Python >= 3.10 ($("$PY" --version))" >&2; exit 1; }

start=$(date +%s)
rm -rf "$venv"
"$PY" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off)
if ((cuda)); then
  "${pip[@]}" "torch==$TORCH_VERSION" \
    "cuda-toolkit[cudart,nvcc,crt,nvvm,cccl,nvrtc,nvtx,cupti,culibos]==$CUDA_TOOLKIT_VERSION"
else
  "${pip[@]}" --no-deps "torch==$TORCH_VERSION" "nvidia-cuda-runtime==$CUDART_VERSION" \
    "nvidia-cuda-cupti==$CUPTI_VERSION"
fi
prefix_of "$venv/bin/python" >/dev/null
echo "$want" >"$stamp"
echo "setup_torch: $want in $venv ($(du -sh "$venv" | cut -f1), $(($(date +%s) - start)) s)"
