# sqlraft: `make run` and `make test` are all a newcomer needs (both install what is missing).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
SEEDS      ?= 1-200
CMAKE_GEN  := -G Ninja

.PHONY: all deps build run run-node bench test test-release test-asan asan fuzz sweep sweep-long mutation jepsen lint format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@ninja -C $(BUILD)

# The seed document's three-node cluster on 127.0.0.1 in the foreground: HTTP 4001/4003/4005,
# Raft 4002/4004/4006, data in ./data/node{1,2,3}. Ctrl-C stops all three cleanly; run it again
# and the cluster comes back with its data.
run: build
	BUILD=$(BUILD) scripts/run-cluster.sh

# rqlite's quick start: one node on 127.0.0.1:4001/4002, data in ./data/node1.
run-node: build
	@mkdir -p data
	$(BUILD)/bin/rqlited -node-id 1 -http-addr 127.0.0.1:4001 -raft-addr 127.0.0.1:4002 ./data/node1

# rqlited's speed beside the machine's fsync and HTTP limits (docs/performance.md).
bench: build
	scripts/bench.sh

test: test-release test-asan

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

# Unit tests and a short sweep under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRQ_SANITIZE=address,undefined >/dev/null
	@ninja -C $(ASAN_BUILD) core_tests sim_tests server_tests rqsim rqlited

test-asan: asan
	$(ASAN_BUILD)/bin/core_tests --gtest_brief=1
	$(ASAN_BUILD)/bin/sim_tests --gtest_brief=1
	$(ASAN_BUILD)/bin/server_tests --gtest_brief=1
	python3 tests/server/rqlited_test.py $(ASAN_BUILD)/bin/rqlited
	python3 tests/server/rqlited_ops_test.py $(ASAN_BUILD)/bin/rqlited
	python3 tests/server/rqlited_backup_test.py $(ASAN_BUILD)/bin/rqlited
	python3 tests/server/rqlited_cluster_test.py $(ASAN_BUILD)/bin/rqlited
	python3 tests/server/rqlited_compat_test.py $(ASAN_BUILD)/bin/rqlited
	$(ASAN_BUILD)/bin/rqsim --seeds 1-50
	$(ASAN_BUILD)/bin/rqsim --seeds 1-30 --workload register
	$(ASAN_BUILD)/bin/rqsim --seeds 1-20 --workload append

# Every parser under libFuzzer with ASan + UBSan, FUZZ_SECONDS per target (a clang build of its
# own; docs/testing.md). FUZZ_SECONDS=5 is a smoke run; FUZZ_TARGETS narrows it.
fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release \
	  -DRQ_FUZZ=ON -DRQ_SANITIZE=address,undefined >/dev/null
	scripts/fuzz.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Visible simulation sweeps: Raft-level clients, then SQL clients through the service with their
# histories checked for linearizability.
sweep: build
	$(BUILD)/bin/rqsim --seeds $(SEEDS)
	$(BUILD)/bin/rqsim --seeds $(SEEDS) --workload register

# 100,000 seeds of the Raft workload and 20,000 of each SQL workload on both cores (hours);
# resumable: run it again after an interruption and finished chunks are kept.
sweep-long: build
	scripts/sweep-long.py

# Plants classic Raft bugs and checks the simulator catches each, with the white-box checkers
# within 2,000 seeds and without them within 10,000 (slow: an hour or more).
mutation: build
	scripts/mutation-test.py --both

# Real rqlited clusters under kill, pause, partition and clock faults: every workload x nemesis x
# level, several runs each, and a summary table (docs/jepsen.md; root; hours). JEPSEN_ARGS narrows it.
jepsen: build
	scripts/jepsen-campaign.py $(JEPSEN_ARGS)

lint:
	scripts/lint.sh .

format:
	find core sim net server tests -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
