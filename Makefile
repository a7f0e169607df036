# Thin wrapper over CMake: `make run` is the main job, `make test` the test suite.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DNNJOULE_WERROR=ON

.PHONY: all deps bench-deps configure build run test install bundle asan bench format clean

all: build

deps:
	./scripts/install-deps.sh

bench-deps:
	./scripts/install-deps.sh --bench

configure:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./scripts/main-job.sh $(BUILD_DIR)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Headers, libraries, the CLI, the CMake package and nnjoule.pc under PREFIX.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The CLI with its shared libraries and the dynamic loader, for a machine without Debian's
# packages: BUNDLE/nnjoule runs it (scripts/make-bundle.sh).
BUNDLE ?= out/bundle
bundle: build
	./scripts/make-bundle.sh $(BUILD_DIR)/nnjoule $(BUNDLE)

# The suite under AddressSanitizer and UBSan.
asan: deps
	cmake -S . -B $(BUILD_DIR)-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNJOULE_SANITIZE=ON \
	  -DNNJOULE_WERROR=ON -DNNJOULE_BUILD_BENCH=OFF
	cmake --build $(BUILD_DIR)-asan -j $(JOBS)
	ctest --test-dir $(BUILD_DIR)-asan --output-on-failure -j $(JOBS)

bench: bench-deps build
	./bench/run-all.sh $(BUILD_DIR)

format:
	find src include tests bench fuzz examples python -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-asan
