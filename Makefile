# attn_train: thin wrapper over CMake. `make demo` and `make test` are all a newcomer types.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
NP         ?= 2
# Debian packages the build, the tests and the demo need (CUDA/NCCL come from /usr/local/cuda when present);
# slurm*/munge: the private Slurm cluster of the `slurm` tests; libblis-dev: the second-BLAS build check
PACKAGES = cmake make gcc pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools \
           libopenblas-dev libcunit1-dev zlib1g-dev libpng-dev libjpeg-dev python3-h5py python3-numpy dataset-fashion-mnist procps \
           libcairo2-dev fonts-dejavu-core \
           clang libomp-dev slurmd slurmctld slurm-client munge libblis-dev fortunes
# only to regenerate tests/ref fixtures and run the PyTorch benchmarks
TORCH_PACKAGES = python3-torch python3-h5py python3-numpy

MPIRUN = mpirun $(if $(filter 0,$(shell id -u)),--allow-run-as-root) --oversubscribe

.PHONY: all deps torch-deps configure build test test-asan test-tsan fuzz demo transfer-demo demo-text-data demo-gpt demo-transformer demo-lstm demo-translate \
        bench clean

all: build

deps:
	@PKGS="$(PACKAGES)" sh tests/install_deps.sh

torch-deps:
	@PKGS="$(TORCH_PACKAGES)" sh tests/install_deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# every test: unit suites, mpirun suites, end-to-end scripts (TEST_JOBS at a time; the timing-sensitive ones
# alone: RUN_SERIAL in CMakeLists.txt); then the unit suites under ASan + UBSan and the fuzzers; then TSan
TEST_JOBS ?= $(JOBS)
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan

# the ASan + UBSan build holds only what its tests run (target unit_tests); the 8 fuzz targets mutate
# FUZZ_TEST_SECONDS each, all at once (issue 14: 30-60 s per target in CI)
FUZZ_TEST_SECONDS ?= 30
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATTN_SANITIZE=ON -DATTN_FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit_tests
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -LE fuzz -j $(TEST_JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -L fuzz -j 8

# the comm suite under ThreadSanitizer (clang; Open MPI's own reports suppressed: tests/tsan.supp, tests/tsan_comm.sh)
# (no CUDA backend there: nvcc would compile it only for a CPU comm suite)
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTN_TSAN=ON -DATTN_CUDA=OFF >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target mpi_comm
	bash tests/tsan_comm.sh build-tsan

# a longer fuzzing session of every reader in the ASan build (FUZZ_SECONDS each; findings -> tests/fuzz/corpus)
FUZZ_SECONDS ?= 300
fuzz: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATTN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target fuzz_readers
	for t in idx cifar text pairs shards meta config import; do \
	  FUZZ_STRICT=1 ASAN_OPTIONS=detect_leaks=0 ./$(ASAN_BUILD)/fuzz_readers $$t $(FUZZ_SECONDS) tests/fuzz/seeds tests/fuzz/corpus || exit 1; done

# the quick start: Fashion-MNIST in 2 shards, the CNN with spatial self-attention, 1 epoch on 2 ranks
demo: build
	@test -d data/fmnist || ./$(BUILD)/attn_data convert idx /usr/share/datasets/fashion-mnist --shards 2 --out data/fmnist
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model cnn --attn spatial --data data/fmnist --epochs 1 --log-dir runs/demo --ckpt-dir runs/demo/ckpt

# transfer learning (§9.5): pretrain ResNet-18 on Fashion-MNIST classes 0-4, a linear head on features of
# classes 5-9, against a random backbone and training from scratch for the same wall clock
# (tools/transfer_demo.sh; TRANSFER_MODEL=cnn for the small CNN; TRANSFER_FLAGS, when given, replaces the
# script's model flags, --stem imagenet for a resnet)
TRANSFER_MODEL ?= resnet18
transfer-demo: build
	BUILD=$(BUILD) NP=$(NP) MODEL=$(TRANSFER_MODEL) $(if $(filter undefined,$(origin TRANSFER_FLAGS)),,MODEL_FLAGS="$(TRANSFER_FLAGS)") \
	  MPI="$(MPIRUN) -np $(NP)" bash tools/transfer_demo.sh

# text demos: any UTF-8 text (TEXT=file); without one, the fortune-cookie collection of Debian's
# `fortunes` package (/usr/share/games/fortunes, about 2.6 MB of English, BSD licence). Each converts
# the text, trains on $(NP) ranks for a few minutes (DEMO_STEPS=N to change) and prints a sample.
TEXT       ?=
FORTUNES    = /usr/share/games/fortunes
DEMO_GEN    = --length 400 --temperature 0.8 --seed 1
demo-text-data: build
	@mkdir -p data
	@if [ -n "$(TEXT)" ]; then src="$(TEXT)"; else src=data/fortunes.txt; \
	  cat $$(ls -d $(FORTUNES)/* | grep -v '\.\(dat\|u8\)$$') >$$src || exit 1; fi; \
	  echo "demo text: $$src"; rm -rf data/demo-text; \
	  ./$(BUILD)/attn_data convert text "$$src" --out data/demo-text >/dev/null && ./$(BUILD)/attn_data info data/demo-text

demo-gpt: demo-text-data
	rm -rf runs/demo-gpt
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model gpt-small --data data/demo-text --steps $(or $(DEMO_STEPS),300) \
	  --eval-batches 20 --log-every 25 --ckpt-dir runs/demo-gpt/ckpt --log-dir runs/demo-gpt
	./$(BUILD)/attn_train generate --ckpt runs/demo-gpt/ckpt $(DEMO_GEN)

demo-transformer: demo-text-data
	rm -rf runs/demo-transformer
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model transformer-small --data data/demo-text \
	  --steps $(or $(DEMO_STEPS),300) --warmup 50 --eval-batches 20 --log-every 25 \
	  --ckpt-dir runs/demo-transformer/ckpt --log-dir runs/demo-transformer
	./$(BUILD)/attn_train generate --ckpt runs/demo-transformer/ckpt $(DEMO_GEN)

demo-lstm: demo-text-data
	rm -rf runs/demo-lstm
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model lstm-attn --data data/demo-text --batch 32 --block 100 \
	  --steps $(or $(DEMO_STEPS),400) --eval-batches 20 --log-every 25 --sample-chars 0 \
	  --ckpt-dir runs/demo-lstm/ckpt --log-dir runs/demo-lstm
	./$(BUILD)/attn_train generate --ckpt runs/demo-lstm/ckpt $(DEMO_GEN)

# the translator: PAIRS = a tab-separated English-French file (the Tatoeba pairs: https://www.manythings.org/anki/
# fra-eng.zip -> fra.txt, or data/eng-fra.txt of https://download.pytorch.org/tutorial/data.zip); converts,
# trains on 2 ranks for a few minutes, prints the validation BLEU and a few translations (greedy, beam 4)
PAIRS ?=
TRANSLATE_STEPS ?= 600
demo-translate: build
	@if [ -z "$(PAIRS)" ] || [ ! -f "$(PAIRS)" ]; then \
	  echo "demo-translate needs PAIRS=FILE, tab-separated English<TAB>French sentence pairs (the Tatoeba corpus):"; \
	  echo "  https://www.manythings.org/anki/fra-eng.zip (fra.txt), or data/eng-fra.txt in https://download.pytorch.org/tutorial/data.zip"; \
	  echo "  then: make demo-translate PAIRS=fra.txt"; exit 2; fi
	rm -rf data/demo-pairs runs/demo-translate ckpt/demo-translate
	./$(BUILD)/attn_data convert pairs "$(PAIRS)" --max-len 10 --shards 2 --out data/demo-pairs
	$(MPIRUN) -np $(NP) ./$(BUILD)/attn_train --model seq2seq --data data/demo-pairs --steps $(TRANSLATE_STEPS) \
	  --hidden 128 --eval-every 500 --log-every 100 --ckpt-dir ckpt/demo-translate --log-dir runs/demo-translate
	@printf 'i am cold .\nshe is very happy .\nwe are students .\nhe is taller than me .\nthey are teachers .\n' >runs/demo-translate/sentences.txt
	@python3 -c "import json; r=[json.loads(l) for l in open('runs/demo-translate/metrics.jsonl') if '\"bleu\"' in l]; print('validation BLEU-4 %.2f over %d sentences' % (r[-1]['bleu'], r[-1]['sentences']))"
	@echo "greedy:"; ./$(BUILD)/attn_train translate --ckpt ckpt/demo-translate --input runs/demo-translate/sentences.txt
	@echo "beam 4:"; ./$(BUILD)/attn_train translate --ckpt ckpt/demo-translate --input runs/demo-translate/sentences.txt --beam 4

bench: build torch-deps
	./$(BUILD)/bench_ops

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-tsan
