# Thin wrapper over CMake: `make run` is the main job, `make test` the test suite.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DNNJOULE_WERROR=ON

.PHONY: all deps bench-deps deps-aarch64 configure build run test install bundle build-aarch64 \
  bundle-aarch64 asan bench format clean

all: build

deps:
	./scripts/install-deps.sh

bench-deps:
	./scripts/install-deps.sh --bench

# The arm64 cross compiler, qemu-user and the arm64 sysroot in $(AARCH64_DIR)/sysroot.
AARCH64_DIR ?= build-aarch64
deps-aarch64:
	./scripts/install-deps.sh --aarch64

configure:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./scripts/main-job.sh $(BUILD_DIR)

# With the aarch64 part: the cross build, a named subset of the suite and the bundle under
# qemu-aarch64 (label aarch64; tests/install/aarch64.sh).
test: build deps-aarch64
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

# The same for aarch64 (cross-built in $(AARCH64_DIR)/build): copy the folder to a board or
# phone and run its nnjoule (docs/devices.md).
BUNDLE_AARCH64 ?= out/bundle-aarch64
build-aarch64: deps-aarch64
	./scripts/cross-aarch64.sh $(AARCH64_DIR) nnjoule

bundle-aarch64: build-aarch64
	./scripts/make-bundle.sh $(AARCH64_DIR)/build/nnjoule $(BUNDLE_AARCH64) \
	  $(AARCH64_DIR)/sysroot/lib/aarch64-linux-gnu $(AARCH64_DIR)/sysroot/usr/lib/aarch64-linux-gnu

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
