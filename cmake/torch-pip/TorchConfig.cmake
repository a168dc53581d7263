# find_package(Torch) for the LibTorch inside a pip-installed PyTorch 2.x
# (make build TORCH=pip passes -DTorch_DIR=<this folder>).
#
# PyPI's Linux torch wheels are CUDA builds, and their own TorchConfig.cmake
# stops without a CUDA toolkit (nvcc, headers). compsweep compiles no CUDA code,
# so it can link a CUDA wheel three ways (COMPSWEEP_TORCH_CUDA):
#   TOOLKIT  the wheel's own TorchConfig.cmake (needs a CUDA toolkit, found by
#            CMake's FindCUDAToolkit: nvcc on PATH, CUDAToolkit_ROOT, ...).
#   LIBS     libtorch_cpu + libtorch_cuda + libc10_cuda directly; the CUDA
#            libraries they need come from the wheel's nvidia-* packages.
#   OFF      libtorch_cpu + libc10 only: CPU, no CUDA libraries beyond the
#            two libtorch_cpu itself needs (libcudart, libcupti).
#   AUTO     (default) TOOLKIT if a CUDA toolkit of the wheel's CUDA major
#            version is found, else LIBS if the wheel's CUDA libraries are
#            installed, else OFF.
# Inputs: COMPSWEEP_TORCH_PYTHON (the Python whose torch to use; default
# python3) or COMPSWEEP_TORCH_CMAKE_PREFIX (torch.utils.cmake_prefix_path).
# Sets what TorchConfig sets (TORCH_LIBRARIES, TORCH_INCLUDE_DIRS, target
# torch) plus COMPSWEEP_TORCH_CUDA_MODE (TOOLKIT, LIBS or OFF),
# COMPSWEEP_TORCH_VERSION and COMPSWEEP_TORCH_CUDA_VERSION.

set(COMPSWEEP_TORCH_CUDA "AUTO" CACHE STRING "Link LibTorch's CUDA: AUTO, TOOLKIT, LIBS or OFF")
set_property(CACHE COMPSWEEP_TORCH_CUDA PROPERTY STRINGS AUTO TOOLKIT LIBS OFF)
set(COMPSWEEP_TORCH_PYTHON "python3" CACHE STRING "Python whose torch package holds LibTorch")
set(COMPSWEEP_TORCH_CMAKE_PREFIX "" CACHE PATH "torch.utils.cmake_prefix_path (found from COMPSWEEP_TORCH_PYTHON when empty)")

if(NOT COMPSWEEP_TORCH_CMAKE_PREFIX)
  # As torch documents it; a CPU-only install (setup_torch.sh) cannot import
  # torch (the module loads libtorch_cuda), so fall back to where the package is.
  execute_process(
    COMMAND "${COMPSWEEP_TORCH_PYTHON}" -c
            "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _cs_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
    RESULT_VARIABLE _cs_rc)
  if(NOT _cs_rc EQUAL 0)
    execute_process(
      COMMAND "${COMPSWEEP_TORCH_PYTHON}" -c
              "import importlib.util, os; s = importlib.util.find_spec('torch'); print(os.path.join(os.path.dirname(s.origin), 'share', 'cmake'))"
      OUTPUT_VARIABLE _cs_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_VARIABLE _cs_err
      RESULT_VARIABLE _cs_rc)
  endif()
  if(NOT _cs_rc EQUAL 0 OR NOT _cs_prefix)
    message(FATAL_ERROR "compsweep: no torch package in '${COMPSWEEP_TORCH_PYTHON}' "
                        "(${_cs_err}). Run scripts/setup_torch.sh, or set "
                        "COMPSWEEP_TORCH_PYTHON / COMPSWEEP_TORCH_CMAKE_PREFIX.")
  endif()
  set(COMPSWEEP_TORCH_CMAKE_PREFIX "${_cs_prefix}" CACHE PATH "torch.utils.cmake_prefix_path" FORCE)
endif()

set(_cs_real "${COMPSWEEP_TORCH_CMAKE_PREFIX}/Torch/TorchConfig.cmake")
if(NOT EXISTS "${_cs_real}")
  message(FATAL_ERROR "compsweep: ${_cs_real} does not exist; COMPSWEEP_TORCH_CMAKE_PREFIX "
                      "must be torch.utils.cmake_prefix_path of a PyTorch 2.x install")
endif()
get_filename_component(_cs_torch "${COMPSWEEP_TORCH_CMAKE_PREFIX}/../.." ABSOLUTE)
get_filename_component(_cs_site "${_cs_torch}/.." ABSOLUTE)
set(_cs_lib "${_cs_torch}/lib")

# Versions from torch/version.py (no import: see above).
file(STRINGS "${_cs_torch}/version.py" _cs_v REGEX "^__version__ = ")
string(REGEX REPLACE "^__version__ = '([^']*)'.*" "\\1" COMPSWEEP_TORCH_VERSION "${_cs_v}")
# What find_package's version file would give (this folder has none).
string(REGEX MATCH "^[0-9]+(\\.[0-9]+)*" Torch_VERSION "${COMPSWEEP_TORCH_VERSION}")
file(STRINGS "${_cs_torch}/version.py" _cs_v REGEX "^cuda")
set(COMPSWEEP_TORCH_CUDA_VERSION "")
if(_cs_v MATCHES "'([0-9.]+)'")
  set(COMPSWEEP_TORCH_CUDA_VERSION "${CMAKE_MATCH_1}")
endif()

set(_cs_mode "${COMPSWEEP_TORCH_CUDA}")
set(_cs_why "")
if(NOT EXISTS "${_cs_lib}/libtorch_cuda.so")
  if(_cs_mode STREQUAL "TOOLKIT" OR _cs_mode STREQUAL "LIBS")
    message(FATAL_ERROR "compsweep: COMPSWEEP_TORCH_CUDA=${_cs_mode}, but torch "
                        "${COMPSWEEP_TORCH_VERSION} in ${_cs_torch} is not a CUDA build")
  endif()
  set(_cs_mode "OFF")
  set(_cs_why "not a CUDA build of torch")
endif()
# The wheel's CUDA libraries (nvidia-* wheels), for LIBS mode's link and rpath.
file(GLOB _cs_nvidia_dirs LIST_DIRECTORIES true "${_cs_site}/nvidia/*/lib")
# Some builds (conda, the libtorch archive) keep them beside libtorch instead.
file(GLOB _cs_blas "${_cs_lib}/libcublas.so*")
set(_cs_have_cuda_libs FALSE)
if(_cs_blas)
  set(_cs_have_cuda_libs TRUE)
endif()
foreach(_cs_d IN LISTS _cs_nvidia_dirs)
  file(GLOB _cs_blas "${_cs_d}/libcublas.so.*")
  if(_cs_blas)
    set(_cs_have_cuda_libs TRUE)
  endif()
endforeach()
if(_cs_mode STREQUAL "AUTO")
  find_package(CUDAToolkit QUIET)
  string(REGEX MATCH "^[0-9]+" _cs_major "${COMPSWEEP_TORCH_CUDA_VERSION}")
  if(CUDAToolkit_FOUND AND CUDAToolkit_NVCC_EXECUTABLE
     AND CUDAToolkit_VERSION_MAJOR STREQUAL _cs_major)
    set(_cs_mode "TOOLKIT")
  elseif(_cs_have_cuda_libs)
    set(_cs_mode "LIBS")
    if(CUDAToolkit_FOUND)
      set(_cs_why "CUDA toolkit ${CUDAToolkit_VERSION} is not the wheel's CUDA ${COMPSWEEP_TORCH_CUDA_VERSION}")
    else()
      set(_cs_why "no CUDA toolkit found")
    endif()
  else()
    set(_cs_mode "OFF")
    set(_cs_why "no CUDA toolkit found and the wheel's CUDA libraries (nvidia-cublas, ...) are not installed")
  endif()
endif()
if(_cs_mode STREQUAL "LIBS" AND NOT _cs_have_cuda_libs)
  message(FATAL_ERROR "compsweep: COMPSWEEP_TORCH_CUDA=LIBS needs the wheel's CUDA libraries "
                      "(no libcublas.so.* under ${_cs_site}/nvidia/*/lib): pip install torch with its "
                      "dependencies (scripts/setup_torch.sh --cuda)")
endif()
set(COMPSWEEP_TORCH_CUDA_MODE "${_cs_mode}")

if(_cs_mode STREQUAL "TOOLKIT")
  # The wheel's TorchConfig finds Caffe2 with PATHS, which come after the
  # system's: with Debian's libtorch-dev installed it would take 1.13's.
  # Its find_library(... PATHS <torch>/lib) calls too: the system's libc10.so
  # and libtorch.so would come first.
  set(Caffe2_DIR "${COMPSWEEP_TORCH_CMAKE_PREFIX}/Caffe2" CACHE PATH "Caffe2 of the pip torch" FORCE)
  set(c10_LIBRARY "${_cs_lib}/libc10.so" CACHE FILEPATH "pip torch's c10" FORCE)
  set(C10_CUDA_LIBRARY "${_cs_lib}/libc10_cuda.so" CACHE FILEPATH "pip torch's c10_cuda" FORCE)
  set(TORCH_LIBRARY "${_cs_lib}/libtorch.so" CACHE FILEPATH "pip torch's libtorch" FORCE)
  include("${_cs_real}")
else()
  # The targets the wheel's Caffe2Targets.cmake would define, less CUDA (OFF)
  # or with its CUDA libraries linked as plain files (LIBS). --no-as-needed:
  # nothing references libtorch_cuda's symbols, but loading it registers CUDA.
  set(_cs_libs_file "${_cs_lib}/libtorch_cpu.so")
  if(_cs_mode STREQUAL "LIBS")
    list(APPEND _cs_libs_file "${_cs_lib}/libtorch_cuda.so" "${_cs_lib}/libc10_cuda.so")
  endif()
  foreach(_cs_f IN LISTS _cs_libs_file ITEMS "${_cs_lib}/libc10.so")
    if(NOT EXISTS "${_cs_f}")
      message(FATAL_ERROR "compsweep: ${_cs_f} missing from the torch install")
    endif()
  endforeach()
  if(NOT TARGET torch)
    add_library(c10 SHARED IMPORTED)
    set_target_properties(c10 PROPERTIES IMPORTED_LOCATION "${_cs_lib}/libc10.so"
                                         INTERFACE_INCLUDE_DIRECTORIES "${_cs_torch}/include")
    add_library(torch INTERFACE IMPORTED)
    set(_cs_link "")
    foreach(_cs_f IN LISTS _cs_libs_file)
      list(APPEND _cs_link "-Wl,--no-as-needed,${_cs_f}")
    endforeach()
    list(APPEND _cs_link "-Wl,--as-needed" c10)
    # The CUDA libraries libtorch_cpu/libtorch_cuda need, for the linker (their
    # own RPATH finds them at run time).
    foreach(_cs_d IN LISTS _cs_nvidia_dirs)
      list(APPEND _cs_link "-Wl,-rpath-link,${_cs_d}")
    endforeach()
    list(APPEND _cs_link "-Wl,-rpath,${_cs_lib}")
    set_target_properties(
      torch PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${_cs_torch}/include;${_cs_torch}/include/torch/csrc/api/include"
      INTERFACE_COMPILE_DEFINITIONS "USE_DISTRIBUTED;USE_C10D_GLOO;USE_RPC;USE_TENSORPIPE"
      INTERFACE_LINK_LIBRARIES "${_cs_link}")
  endif()
  set(TORCH_INCLUDE_DIRS "${_cs_torch}/include" "${_cs_torch}/include/torch/csrc/api/include")
  set(TORCH_LIBRARIES torch)
  set(TORCH_CXX_FLAGS "")
  set(TORCH_LIBRARY "${_cs_lib}/libtorch_cpu.so")
  set(Torch_FOUND TRUE)
endif()
# The wheel's include folder bundles its own fmt (12.x); a compsweep file
# that includes both spdlog (built against the system's fmt, 9.x on Debian 12)
# and torch would compile spdlog against the wheel's fmt and fail. So the
# system's fmt comes first: a folder holding only fmt/ -> the system's headers,
# ahead of the wheel's include folder (find_package(spdlog) runs before Torch).
if(TARGET fmt::fmt AND EXISTS "${_cs_torch}/include/fmt")
  get_target_property(_cs_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _cs_fmt_inc 0 _cs_fmt_inc)
  if(_cs_fmt_inc AND EXISTS "${_cs_fmt_inc}/fmt/format.h")
    set(_cs_fmt_dir "${CMAKE_BINARY_DIR}/torch-pip-fmt")
    file(MAKE_DIRECTORY "${_cs_fmt_dir}")
    file(CREATE_LINK "${_cs_fmt_inc}/fmt" "${_cs_fmt_dir}/fmt" SYMBOLIC)
    get_target_property(_cs_inc torch INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _cs_inc)
      set(_cs_inc "")
    endif()
    set_target_properties(torch PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_cs_fmt_dir};${_cs_inc}")
    list(PREPEND TORCH_INCLUDE_DIRS "${_cs_fmt_dir}")
  endif()
endif()

if(_cs_why)
  set(_cs_why " (${_cs_why})")
endif()
message(STATUS "compsweep: LibTorch ${COMPSWEEP_TORCH_VERSION} from ${_cs_torch}, "
               "CUDA link mode ${COMPSWEEP_TORCH_CUDA_MODE}${_cs_why}")
