# attn_train: thin wrapper over CMake. `make demo` and `make test` are all a newcomer types.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
NP         ?= 2
# Debian packages the build, the tests and the demo need (CUDA/NCCL come from /usr/local/cuda when present)
PACKAGES = cmake make gcc pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
           libopenblas-dev libcunit1-dev zlib1g-dev python3-h5py python3-numpy dataset-fashion-mnist procps \
           libcairo2-dev fonts-dejavu-core \
           clang libomp-dev
# only to regenerate tests/ref fixtures and run the PyTorch benchmarks
TORCH_PACKAGES = python3-torch python3-h5py python3-numpy

MPIRUN = mpirun $(if $(filter 0,$(shell id -u)),--allow-run-as-root) --oversubscribe

.PHONY: all deps torch-deps configure build test test-asan test-tsan fuzz demo bench clean

all: build

deps:
	@PKGS="$(PACKAGES)" sh tests/install_deps.sh

torch-deps:
	@PKGS="$(TORCH_PACKAGES)" sh tests/install_deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# every test: unit suites, mpirun suites, end-to-end scripts; then the unit suites under ASan + UBSan
test: build
	cd $(BUILD) && ctest --output-on-failure -j 1
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATTN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -j 1

# the comm suite under ThreadSanitizer (clang; Open MPI's own reports suppressed: tests/tsan.supp, tests/tsan_comm.sh)
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTN_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target mpi_comm
	bash tests/tsan_comm.sh build-tsan

# a longer fuzzing session of every reader in the ASan build (FUZZ_SECONDS each; findings -> tests/fuzz/corpus)
FUZZ_SECONDS ?= 300
fuzz: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATTN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target fuzz_readers
	for t in idx cifar text pairs shards meta config import; do \
	  ASAN_OPTIONS=detect_leaks=0 ./$(ASAN_BUILD)/fuzz_readers $$t $(FUZZ_SECONDS) tests/fuzz/seeds tests/fuzz/corpus || exit 1; done

# the quick start: Fashion-MNIST in 2 shards, the CNN with spatial self-attention, 1 epoch on 2 ranks
demo: build
	@test -d data/fmnist || ./$(BUILD)/attn_data convert idx /usr/share/datasets/fashion-mnist --shards 2 --out data/fmnist
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model cnn --attn spatial --data data/fmnist --epochs 1 --log-dir runs/demo

bench: build torch-deps
	./$(BUILD)/bench_ops

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-tsan
