# compsweep: the two commands of the README.
#   make demo  - install what is missing, build, run examples/quickstart.yaml
#   make test  - install what is missing (chromium too), build, run every test
# TORCH=debian (default): Debian's LibTorch 1.13. TORCH=pip: the LibTorch inside
# the pinned pip PyTorch 2.x (scripts/setup_torch.sh, .venv-torch/, or the torch
# of TORCH_PYTHON), built in build-torch2, with CUDA where CUDA is found
# (cmake/torch-pip/TorchConfig.cmake).
TORCH ?= debian
TORCH_PYTHON ?= $(CURDIR)/.venv-torch/bin/python
PIP_TORCH_FLAGS = -DTorch_DIR=$(CURDIR)/cmake/torch-pip -DCOMPSWEEP_TORCH_PYTHON=$(TORCH_PYTHON)
ifeq ($(TORCH),pip)
BUILD_DIR ?= build-torch2
TORCH_CMAKE_FLAGS = $(PIP_TORCH_FLAGS)
ifeq ($(TORCH_PYTHON),$(CURDIR)/.venv-torch/bin/python)
TORCH_SETUP = setup-torch
endif
else ifneq ($(TORCH),debian)
$(error TORCH must be debian or pip, not '$(TORCH)')
endif
BUILD_DIR ?= build
# ccache hits across clones in other folders (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all setup setup-test setup-torch test-torch2 build demo test test-main bench results screenshot clean chaos chaos-ci load

all: build

setup:
	./scripts/setup.sh

setup-test:
	./scripts/setup.sh --with-browser

setup-torch:
	./scripts/setup_torch.sh

build: setup $(TORCH_SETUP)
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) $(TORCH_CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

demo: build
	mkdir -p out
	./$(BUILD_DIR)/compsweep run examples/quickstart.yaml --workers 2 --threads 1 \
	  --db out/quickstart.db --cache-dir out/cache --port 8321
	@echo
	@echo "The sweep is over; its dashboard stays viewable, read-only, from the file:"
	@echo "  ./$(BUILD_DIR)/compsweep dashboard --db out/quickstart.db"

# Every stage CI runs, in this order (about 50 min on a fresh 2-core machine):
#   test-main     build with Debian's LibTorch 1.13, every unit, integration and browser test
#   test-python   the Python package (python/) and examples/program, pytest
#   test-notorch  the coordinator and CLI built without LibTorch, their tests, ldd check
#   chaos-ci      worker/coordinator SIGKILLs, SIGSTOP, a full disk (tests/chaos)
#   test-slurm    a real single-node Slurm runs the worker job array (tests/slurm)
#   check-k8s     the Kubernetes manifests against the Kubernetes schemas, offline
#   fuzz-ci       libFuzzer on the sweep parser, the protocol decoder, the HTTP handler
#   test-torch2   experiments/ and worker/ against LibTorch 2.x from the pip wheel
TEST_STAGES = test-main test-python test-notorch chaos-ci test-slurm check-k8s fuzz-ci test-torch2
test:
	@set -e; for stage in $(TEST_STAGES); do \
	  start=$$(date +%s); echo "== make $$stage"; $(MAKE) --no-print-directory $$stage; \
	  echo "== make $$stage passed in $$(( $$(date +%s) - start )) s"; done
	@echo "make test: all stages passed ($(TEST_STAGES))"

test-main: setup-test
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) -DCOMPSWEEP_WERROR=ON
	cmake --build $(BUILD_DIR) -j$(JOBS)
	cd $(BUILD_DIR) && COMPSWEEP_REQUIRE_E2E=1 ctest --output-on-failure -j2 --timeout 900

# The Python package compsweep (python/) and examples/program/train.py: pytest in
# a venv over Debian's python3 (--system-site-packages: its python3-torch, pandas,
# pytest), the package installed from python/ by pip without any index (nothing
# is downloaded; setuptools and wheel are Debian's). The tests start
# $(BUILD_DIR)/compsweep as a real coordinator and worker. The export round trip
# (tests/test_export_roundtrip.py) adds the pinned onnx and onnxruntime pip
# packages (scripts/setup_export_check.sh, python/requirements-export.txt).
PY_VENV ?= .venv-python
.PHONY: test-python
test-python:
	./scripts/setup.sh --with-python
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS) --target compsweep
	test -x $(PY_VENV)/bin/python || /usr/bin/python3 -m venv --system-site-packages $(PY_VENV)
	./scripts/setup_export_check.sh $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install --quiet --no-index --no-build-isolation --no-deps \
	  --force-reinstall ./python
	cd python && COMPSWEEP_BUILD_DIR=$(CURDIR)/$(BUILD_DIR) \
	  ../$(PY_VENV)/bin/python -m pytest -rs tests

# experiments/ and worker/ against the LibTorch of the pinned pip PyTorch 2.x
# (CPU link on a machine without CUDA): their GoogleTest binaries, the worker
# executable, and its clean refusal of --device cuda without CUDA.
TORCH2_DIR ?= build-torch2
test-torch2: setup setup-torch
	cmake -S . -B $(TORCH2_DIR) $(CMAKE_FLAGS) $(PIP_TORCH_FLAGS) -DCOMPSWEEP_WERROR=ON \
	  -DCOMPSWEEP_BUILD_BENCH=OFF
	cmake --build $(TORCH2_DIR) -j$(JOBS) --target experiments_tests worker_tests compsweep-worker
	cd $(TORCH2_DIR) && COMPSWEEP_SOURCE_DIR=$(CURDIR) ./experiments/experiments_tests
	cd $(TORCH2_DIR) && COMPSWEEP_SOURCE_DIR=$(CURDIR) ./worker/worker_tests
	out=$$(timeout 60 ./$(TORCH2_DIR)/compsweep-worker worker --connect tcp://127.0.0.1:9 \
	  --device cuda 2>&1); rc=$$?; echo "$$out"; \
	  test $$rc -ne 0 -a $$rc -lt 124 && echo "$$out" | grep -q 'CUDA is not available'

# The coordinator, CLI and a program-trials-only compsweep-worker built without
# LibTorch (COMPSWEEP_WITH_TORCH=OFF) in build-notorch: its tests (among them
# program trials end to end on its own compsweep-worker), and a check that
# neither binary links LibTorch. Its built-in sweep test takes workers from
# $(BUILD_DIR)/compsweep-worker when that is built (make build / make test), and
# is reported skipped otherwise.
NOTORCH_DIR ?= build-notorch
.PHONY: test-notorch
test-notorch: setup
	cmake -S . -B $(NOTORCH_DIR) $(CMAKE_FLAGS) -DCOMPSWEEP_WITH_TORCH=OFF -DCOMPSWEEP_WERROR=ON
	cmake --build $(NOTORCH_DIR) -j$(JOBS)
	@test -x $(NOTORCH_DIR)/compsweep || exit 1; n=$$(ldd $(NOTORCH_DIR)/compsweep | grep -c torch); \
	if [ "$$n" != 0 ]; then echo "test-notorch: $(NOTORCH_DIR)/compsweep links LibTorch:"; \
	  ldd $(NOTORCH_DIR)/compsweep | grep torch; exit 1; fi; \
	echo "test-notorch: ldd $(NOTORCH_DIR)/compsweep | grep -c torch = 0"
	@n=$$(ldd $(NOTORCH_DIR)/compsweep-worker | grep -c torch); \
	if [ "$$n" != 0 ]; then echo "test-notorch: $(NOTORCH_DIR)/compsweep-worker links LibTorch"; \
	  exit 1; fi; echo "test-notorch: ldd $(NOTORCH_DIR)/compsweep-worker | grep -c torch = 0"
	cd $(NOTORCH_DIR) && COMPSWEEP_TEST_WORKER_BIN=$(CURDIR)/$(BUILD_DIR)/compsweep-worker \
	  ctest --output-on-failure -j2 --timeout 900

bench: build
	./scripts/bench.sh

# Chaos suite, bounded (CI, a few minutes): worker and coordinator SIGKILLs, SIGSTOP,
# a full disk (tmpfs: needs root). Expects $(BUILD_DIR)/compsweep to be built.
chaos-ci:
	python3 tests/chaos/chaos.py --binary $(BUILD_DIR)/compsweep --mode ci

# Long form: 100 worker kills and 20 coordinator kills; writes docs/robustness.md "## Chaos".
chaos: build
	python3 tests/chaos/chaos.py --binary $(BUILD_DIR)/compsweep --mode long \
	  --write-doc docs/robustness.md

# 500 simulated workers (one DEALER each), 100,000 no-op trials, a coordinator process.
load: build
	cmake --build $(BUILD_DIR) -j$(JOBS) --target load_bench
	./$(BUILD_DIR)/bench/load_bench --compsweep $(BUILD_DIR)/compsweep

# docs/results.md on full Fashion-MNIST (~45 min on 2 cores).
results: setup
	./scripts/make_results.sh

# docs/img/dashboard.png from the browser test.
# docs/img/dashboard.png from the quickstart (runs it into out/quickstart.db
# unless DB=FILE names a finished one): scripts/screenshot.sh.
screenshot: setup-test build
	./scripts/screenshot.sh $(if $(DB),--db $(DB)) ./$(BUILD_DIR)/compsweep

# libFuzzer targets (clang, ASan + UBSan) from the committed corpus, 60 s each,
# built in build-fuzz (tests/fuzz; docs/robustness.md, "Fuzzing").
.PHONY: fuzz-ci
fuzz-ci:
	./scripts/setup_fuzz.sh
	./scripts/fuzz.sh 60

.PHONY: test-slurm check-k8s
# A real single-node Slurm (slurmctld, slurmd, munged started by the test, as
# root) runs deploy/slurm/*.sbatch against build/compsweep; skips unless root.
test-slurm:
	./scripts/setup_slurm.sh
	BUILD_DIR=$(BUILD_DIR) ./tests/slurm/slurm_test.sh

# deploy/kubernetes/ against the Kubernetes schemas, offline (kubernetes-validate).
check-k8s:
	./scripts/check_k8s.sh

clean:
	rm -rf $(BUILD_DIR) out
