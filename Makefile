# Thin wrapper over CMake. `make demo` and `make test` do all set-up
# themselves on a fresh Debian machine (as root): missing packages are
# installed by scripts/install-deps.sh.
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test test-fast test-san demo bench clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_SAN)/Makefile: | deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DENCDEC_SANITIZE=ON $(CMAKE_FLAGS)

# All tests: the optimised build, then the C tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-fast test-san

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: deps $(BUILD_SAN)/Makefile
	cmake --build $(BUILD_SAN) -j $(JOBS)
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -R '^test_' 

demo: build
	./$(BUILD)/encdec demo

bench: build
	BUILD=$(BUILD) sh bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
