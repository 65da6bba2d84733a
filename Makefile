# Thin wrapper over CMake. `make demo` and `make test` do all set-up
# themselves on a fresh Debian machine (as root): missing packages are
# installed by scripts/install-deps.sh.
BUILD ?= build
BUILD_SAN ?= build-san
BUILD_REF ?= build-ref
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test test-fast test-san test-ref demo bench clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_SAN)/Makefile: | deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DENCDEC_SANITIZE=ON $(CMAKE_FLAGS)

# All tests: the optimised build; the C tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer; and everything again with the reference
# kernels only (ENCDEC_ONEDNN=OFF), which must pass on their own.
test: test-fast test-san test-ref

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: deps $(BUILD_SAN)/Makefile
	cmake --build $(BUILD_SAN) -j $(JOBS)
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -R '^test_' 

$(BUILD_REF)/Makefile: | deps
	cmake -S . -B $(BUILD_REF) -DCMAKE_BUILD_TYPE=Release -DENCDEC_ONEDNN=OFF $(CMAKE_FLAGS)

test-ref: deps $(BUILD_REF)/Makefile
	cmake --build $(BUILD_REF) -j $(JOBS)
	cd $(BUILD_REF) && ctest --output-on-failure -j $(JOBS)

demo: build
	./$(BUILD)/encdec demo

bench: build
	BUILD=$(BUILD) sh bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_REF)
