# Makefile — the newcomer's entry points. Each target installs what is
# missing (Debian packages via scripts/install-deps.sh), then builds.
#   make run    build and start sessio-shop on http://127.0.0.1:8080
#   make test   build under ASan/UBSan and run every test
#   make bench  benchmarks (micro and HTTP, with the peers when present)
#   make fuzz   every fuzz target for FUZZ_TIME seconds (default 60)
JOBS ?= $(shell nproc)
BUILD ?= build
TEST_BUILD ?= build-test

.PHONY: all deps build run test test-unit test-http test-browser bench fuzz install clean

all: build

deps:
	@scripts/install-deps.sh build

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSESSIO_BUILD_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run.sh $(BUILD)

test:
	@scripts/install-deps.sh test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSESSIO_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	scripts/test.sh $(TEST_BUILD)

# the browser tests alone; screenshots of every page (both sizes and
# themes) land in $(TEST_BUILD)/screenshots/
test-browser:
	@scripts/install-deps.sh test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSESSIO_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS) --target sessio-shop
	cd tests/browser && npm ci --no-audit --no-fund --silent && \
	  SESSIO_BUILD_DIR=$(abspath $(TEST_BUILD)) node run.mjs && \
	  SESSIO_BUILD_DIR=$(abspath $(TEST_BUILD)) node pages.mjs

fuzz:
	@scripts/install-deps.sh fuzz
	scripts/fuzz.sh

bench: build
	@scripts/install-deps.sh bench
	scripts/bench.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
