# cloudbus-worker: build, test, demo and benchmark on one Debian machine (as root: the broker scripts need it).
# `make help` lists the targets; docs/operations.md explains them, docs/README.md maps the modules.
#
# The private RabbitMQ node (scripts/broker.sh) and PostgreSQL server (scripts/postgres.sh) listen on 127.0.0.1 only.
# `make broker` and `make run` leave the broker running (stop it with `make stop`); `make test` and `make bench` start
# what they need when it is not running and stop it again, but leave alone a server that was already up.

SWIFT ?= swift
# Flags for every swift build and test, e.g. SWIFT_FLAGS='-Xswiftc -warnings-as-errors'.
SWIFT_FLAGS ?=
# A module may import only the targets Package.swift names as its direct dependencies: the layering (domain modules
# never reach the transport) is a build error, not a habit.
BUILD_FLAGS = --explicit-target-dependency-import-check=error $(SWIFT_FLAGS)
# Release builds link the Swift runtime and Foundation in, as docker/Dockerfile does: the benchmarks and the
# allocation budget measure the binary operators run (and calls into the runtime skip the PLT: about −8 % CPU per
# echo, BENCHMARKS.md).
RELEASE_FLAGS = -c release --static-swift-stdlib $(BUILD_FLAGS)
# Upper bound for one `swift test` run, so that a hung test fails CI instead of stalling it.
TEST_TIMEOUT ?= 40m

# The broker node; exported so that scripts/broker.sh, the tests and the worker all see the same values.
CLOUDBUS_NODE_NAME ?= cloudbus@localhost
CLOUDBUS_AMQP_PORT ?= 5672
CLOUDBUS_DIST_PORT ?= 25672
# The node's TLS listener, with test certificates from scripts/tls-certs.sh (0 = none; the TLS tests then fail).
CLOUDBUS_AMQPS_PORT ?= 5671
export CLOUDBUS_NODE_NAME CLOUDBUS_AMQP_PORT CLOUDBUS_DIST_PORT CLOUDBUS_AMQPS_PORT

BROKER := $(CURDIR)/scripts/broker.sh
# The three-node cluster (scripts/broker-cluster.sh, 127.0.0.1:5681-5683): quorum queues and broker failover tests.
CLUSTER := $(CURDIR)/scripts/broker-cluster.sh
# The private PostgreSQL 15 (scripts/postgres.sh): the fleet's shared store, for the store tests.
POSTGRES := $(CURDIR)/scripts/postgres.sh
CLOUDBUS_PG_PORT ?= 55432
export CLOUDBUS_PG_PORT
TEST_STORE_URL = postgres://cloudbus@127.0.0.1:$(CLOUDBUS_PG_PORT)/cloudbus
# guest/guest is accepted on loopback only: fine for tests and the demo, nowhere else.
TEST_AMQP_URL = amqp://guest:guest@127.0.0.1:$(CLOUDBUS_AMQP_PORT)/%2F
# By name: rabbitmq-c 0.11 checks the certificate's DNS names only, never its IP addresses (docs/operations.md).
TEST_AMQPS_URL = amqps://guest:guest@localhost:$(CLOUDBUS_AMQPS_PORT)/%2F
TEST_TLS_DIR = $(or $(CLOUDBUS_BROKER_DIR),$(CURDIR)/.data/rabbitmq)/tls
RELEASE_DIR = $(shell $(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)
RELEASE_BIN = $(RELEASE_DIR)/cloudbus-worker
# The development tool: benchmarks and the simulated host agent (never deployed).
BENCH_BIN = $(RELEASE_DIR)/cloudbus-bench
# The allocation counter `make test` preloads into the release worker (Sources/CMallocCounter, issue 15).
MALLOC_COUNTER_LIB = $(RELEASE_DIR)/libCloudBusMallocCounter.so

# The demo node (32 hex digits, as ZStack writes UUIDs); `make run` serves host.<this>.
DEMO_NODE_UUID ?= d0d0cafe0000400000000000000000a1
# `make soak`: 30 minutes at half the calibrated peak, a fault every minute; the report is appended to SOAK_REPORT.
SOAK_ARGS ?= --seconds 1800 --fault-every 60
SOAK_REPORT ?= $(CURDIR)/.data/soak-report.md
# Reference peer for `make bench` (shared/ lies beside the checkout), and extra arguments for `cloudbus-bench`.
BENCH_PEER ?= $(abspath $(CURDIR)/../shared/bench/peer_pika_worker.py)
BENCH_ARGS ?=

.PHONY: build help deps broker cluster release test run fleet fleet-stop stop bench soak clean

build:
	$(SWIFT) build $(BUILD_FLAGS)

help:
	@echo 'make build    debug build (default)'
	@echo 'make test     install deps, build the tests, run them against the local broker ($(TEST_TIMEOUT) at most)'
	@echo 'make release  release builds of cloudbus-worker (the product) and cloudbus-bench (benchmarks, simulated agent)'
	@echo 'make run      release build, local broker, simulated host agent, worker in the background, example messages'
	@echo 'make fleet    release build, broker, PostgreSQL, three workers sharing the store (FLEET_SIZE); make fleet-stop'
	@echo 'make stop     stop the demo worker, the fleet, the simulated agent, the local broker and PostgreSQL'
	@echo 'make bench    worker against the rabbitmq-c null responder and the pika peer (ratios)'
	@echo 'make soak     30 min of mixed load with a fault every minute (docs/soak.md); report in $(SOAK_REPORT)'
	@echo 'make broker   start the local broker (127.0.0.1:$(CLOUDBUS_AMQP_PORT)) and leave it running'
	@echo 'make cluster  start the three-node RabbitMQ cluster (127.0.0.1:5681-5683) and leave it running'
	@echo 'make deps     install the Debian packages (librabbitmq-dev, rabbitmq-server) when missing'
	@echo 'make clean    stop everything, remove .build and .data'

deps:
	scripts/deps.sh

broker: deps
	$(BROKER) start

cluster: deps
	$(CLUSTER) start

release:
	$(SWIFT) build $(RELEASE_FLAGS) --product cloudbus-worker
	$(SWIFT) build $(RELEASE_FLAGS) --product cloudbus-bench

# Build first: a compile error fails fast, and the broker does not idle through the build. Tests read
# CLOUDBUS_TEST_AMQP_URL, and drive the node through CLOUDBUS_BROKER_CTL (stop/start/restart/add-vhost). The
# allocation budget (Tests/AllocationBudgetTests) counts the release worker, with the counter library preloaded.
test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) build $(RELEASE_FLAGS) --product cloudbus-worker
	$(SWIFT) build $(RELEASE_FLAGS) --product CloudBusMallocCounter
	$(POSTGRES) with $(BROKER) with $(CLUSTER) with env CLOUDBUS_TEST_AMQP_URL='$(TEST_AMQP_URL)' CLOUDBUS_BROKER_CTL='$(BROKER)' \
		CLOUDBUS_TEST_CLUSTER_URLS="$$($(CLUSTER) urls)" CLOUDBUS_CLUSTER_CTL='$(CLUSTER)' CLOUDBUS_TEST_REQUIRE_CLUSTER=1 \
		CLOUDBUS_TEST_AMQPS_URL='$(TEST_AMQPS_URL)' CLOUDBUS_TEST_TLS_DIR='$(TEST_TLS_DIR)' \
		CLOUDBUS_TEST_STORE_URL='$(TEST_STORE_URL)' CLOUDBUS_TEST_STORE_PASSWORD=cloudbus CLOUDBUS_TEST_REQUIRE_STORE=1 \
		CLOUDBUS_PG_CTL='$(POSTGRES)' \
		CLOUDBUS_ALLOC_WORKER_BINARY='$(RELEASE_BIN)' CLOUDBUS_MALLOC_COUNTER_LIB='$(MALLOC_COUNTER_LIB)' \
		CLOUDBUS_TEST_REQUIRE_ALLOC_CHECK=1 \
		SWIFT='$(SWIFT)' SWIFT_FLAGS='$(BUILD_FLAGS)' TEST_TIMEOUT='$(TEST_TIMEOUT)' scripts/run-tests.sh

run: broker release
	DEMO_NODE_UUID=$(DEMO_NODE_UUID) scripts/demo.sh start '$(RELEASE_BIN)' '$(BENCH_BIN)'

# Three workers (FLEET_SIZE) as one fleet on the shared PostgreSQL store; they keep running (docs/design-fleet.md).
FLEET_SIZE ?= 3
fleet: broker release
	$(POSTGRES) start
	scripts/fleet.sh start '$(RELEASE_BIN)' $(FLEET_SIZE)

fleet-stop:
	scripts/fleet.sh stop

stop:
	scripts/fleet.sh stop
	scripts/demo.sh stop
	$(CLUSTER) stop
	$(BROKER) stop
	$(POSTGRES) stop

bench: deps release
	python=$$(scripts/deps.sh --bench) && \
	$(BROKER) with env CLOUDBUS_AMQP_URL='$(TEST_AMQP_URL)' CLOUDBUS_BENCH_PYTHON="$$python" \
		CLOUDBUS_BENCH_PEER='$(BENCH_PEER)' CLOUDBUS_WORKER_BINARY='$(RELEASE_BIN)' '$(BENCH_BIN)' $(BENCH_ARGS)

# Faults close every connection of the node and kill the worker: run it on a node nothing else uses.
soak: deps release
	mkdir -p $(dir $(SOAK_REPORT))
	$(BROKER) with env CLOUDBUS_AMQP_URL='$(TEST_AMQP_URL)' CLOUDBUS_BROKER_CTL='$(BROKER)' \
		'$(BENCH_BIN)' soak $(SOAK_ARGS) --report '$(SOAK_REPORT)'

clean: stop
	rm -rf .build .data
