# sqlraft: `make run` and `make test` are all a newcomer needs (both install what is missing).
BUILD      ?= build
ASAN_BUILD ?= build-asan
SEEDS      ?= 1-200
CMAKE_GEN  := -G Ninja

.PHONY: all deps build run test test-release test-asan asan sweep mutation lint format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@ninja -C $(BUILD)

# Until rqlited exists: short, visible simulation sweeps (Raft-level clients, then SQL clients
# through the service with their histories checked for linearizability).
run: build
	$(BUILD)/bin/rqsim --seeds $(SEEDS)
	$(BUILD)/bin/rqsim --seeds $(SEEDS) --workload register

test: test-release test-asan

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

# Unit tests and a short sweep under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRQ_SANITIZE=address,undefined >/dev/null
	@ninja -C $(ASAN_BUILD) core_tests sim_tests rqsim

test-asan: asan
	$(ASAN_BUILD)/bin/core_tests --gtest_brief=1
	$(ASAN_BUILD)/bin/sim_tests --gtest_brief=1
	$(ASAN_BUILD)/bin/rqsim --seeds 1-50
	$(ASAN_BUILD)/bin/rqsim --seeds 1-30 --workload register
	$(ASAN_BUILD)/bin/rqsim --seeds 1-20 --workload append

sweep: build
	$(BUILD)/bin/rqsim --seeds $(SEEDS)

# Plants classic Raft bugs and checks the simulator catches each (slow: minutes).
mutation: build
	scripts/mutation-test.py

lint:
	scripts/lint.sh .

format:
	find core sim net server tests -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
