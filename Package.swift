// swift-tools-version: 6.1
import PackageDescription

// cloudbus-worker builds and runs on Linux only: the rabbitmq-c owner thread waits on an eventfd (CRabbitMQShim)
// and the bench reads /proc. Say so here rather than fail deep inside a C header.
#if !os(Linux)
#error("cloudbus-worker builds on Linux only (eventfd in CRabbitMQShim, /proc in the bench); see README.md")
#endif

// Module graph: an arrow means "may import"; nothing points up. docs/README.md has the map and one delivery's path.
//
//   CJSONScan ← Primitives                               the JSON strings' byte searches (C, SSE2)
//   Primitives (JSONValue, ZStackUUID, Duration units) ← everything below that needs them
//   CRabbitMQ, CRabbitMQShim ← AMQP                      transport; knows nothing of ZStack
//   CloudBus                                             ZStack's wire: envelope, codec, headers, errors, ring
//   CZlib ← BodyCompression, CChecksum                   ZStack's compressed bodies; zlib's CRC-32 tables
//   CChecksum ← Inventory                                the answer log's CRC-32, folded with PCLMULQDQ (C)
//   CloudBusAMQP ← CloudBus + AMQP                       publisher, topology, RPC client (Worker and the CLIs only)
//   KVMMessages, ZBSMessages ← CloudBus                  the domains' wire types
//   KeyedExecution, AgentHTTP, Inventory, LiveSettings   no ZStack wire, no transport
//   MetricHandles ← Primitives                           handles from catalogued metric families (swift-metrics)
//   Inventory ← InventoryPostgres                        the shared store (postgres-nio); Worker picks one
//   KVM ← KVMMessages, AgentHTTP, Inventory, LiveSettings   ZBS ← ZBSMessages, AgentHTTP, Inventory
//   Worker ← all of the above; cloudbus-worker ← Worker, CloudBusAMQP, CommandOptions
//   CloudBusTesting (fake agents, test broker), CloudBusBench ← Worker, CloudBusTesting; cloudbus-bench ← CloudBusBench
//   CMallocCounter (C, imports nothing of ours)           libCloudBusMallocCounter.so: LD_PRELOADed allocation counter
//   AllocationBudgetTests ← CloudBusTesting, CloudBusBench  the release worker's allocations per echo, as a threshold
//
// Domain modules (KVM, ZBS, their messages) cannot import AMQP or CloudBusAMQP: neither is in their dependency
// closure, and `make` builds with --explicit-target-dependency-import-check=error, so importing a module that is not
// a declared direct dependency fails the build instead of working by accident.
let swiftNIO = "swift-nio"
let package = Package(
    name: "cloudbus-worker",
    products: [
        .executable(name: "cloudbus-worker", targets: ["cloudbus-worker"]),
        .executable(name: "cloudbus-bench", targets: ["cloudbus-bench"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "CloudBus", targets: ["CloudBus"]),
        .library(name: "KVMMessages", targets: ["KVMMessages"]),
        .library(name: "KeyedExecution", targets: ["KeyedExecution"]),
        .library(name: "CloudBusTesting", targets: ["CloudBusTesting"]),
        // Preloaded (LD_PRELOAD) into the release worker by the allocation budget test; never linked.
        .library(name: "CloudBusMallocCounter", type: .dynamic, targets: ["CMallocCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", exact: "2.0.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", exact: "1.4.0"),
    ],
    targets: [
        // Value helpers every layer shares; depends on nothing but its C byte searches.
        .target(name: "Primitives", dependencies: ["CJSONScan"]),
        // The JSON reader's and writer's string searches, sixteen bytes at a time (SSE2): Swift's SIMD compares
        // compile to element loops.
        .target(name: "CJSONScan"),

        // rabbitmq-c from Debian's librabbitmq-dev (0.11). Headers only; linking comes from pkg-config.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // The few things Swift cannot import from rabbitmq-c (variadic login, bit-flag macros, eventfd).
        .target(name: "CRabbitMQShim", dependencies: ["CRabbitMQ"]),
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ", "CRabbitMQShim", "Primitives",
                .product(name: "Logging", package: "swift-log"),
            ],
            // The connection's state (confirm tracker, ack batcher, consumer table, content assembler) lives in
            // class properties that only the owner thread touches, mutated in place several times per frame: release
            // builds checked each access at run time (`swift_beginAccess`, 31 per echo, ~1.9k instructions, 1.8 %
            // of the worker's; callgrind, BENCHMARKS.md). Release only: debug builds, which every test runs, keep
            // the checks, so an overlapping access still traps there; the compile-time checks stay everywhere.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),

        .target(name: "CloudBus", dependencies: ["Primitives"]),
        // zlib from Debian's zlib1g-dev, for the bodies ZStack deflates (CloudBus.compressNonApiMessage).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "BodyCompression", dependencies: ["CZlib"]),
        // zlib's CRC-32, computed with carry-less multiplication where the CPU has it (C intrinsics; zlib's table
        // code for the rest): the answer log checksums every record.
        .target(name: "CChecksum", dependencies: ["CZlib"]),
        .target(
            name: "CloudBusAMQP",
            dependencies: [
                "AMQP", "CloudBus", "Primitives",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "KVMMessages", dependencies: ["CloudBus", "Primitives"]),
        .target(name: "ZBSMessages", dependencies: ["CloudBus"]),

        .target(
            name: "KeyedExecution",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "AgentHTTP",
            dependencies: [
                "Primitives", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: swiftNIO),
                .product(name: "NIOPosix", package: swiftNIO),
                .product(name: "NIOHTTP1", package: swiftNIO),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Inventory",
            dependencies: [
                "Primitives", .product(name: "GRDB", package: "GRDB.swift"),
                // sqlite3 itself, for the one insert that binds its values in place (the answer journal's).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                // zlib's CRC-32 for the answer log's records.
                "CChecksum",
            ]
        ),
        // The store a fleet shares: the Inventory protocols on PostgreSQL (SQLite stays in Inventory, the default).
        .target(
            name: "InventoryPostgres",
            dependencies: [
                "Inventory", "Primitives",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: swiftNIO),
                .product(name: "NIOPosix", package: swiftNIO),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LiveSettings"),
        // Handles made from catalogued metric families (`MetricDescription`), for the domain modules.
        .target(
            name: "MetricHandles",
            dependencies: ["Primitives", .product(name: "Metrics", package: "swift-metrics")]
        ),

        .target(
            name: "KVM",
            dependencies: [
                "CloudBus", "KVMMessages", "AgentHTTP", "Inventory", "LiveSettings", "Primitives", "MetricHandles",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ZBS",
            dependencies: [
                "CloudBus", "ZBSMessages", "AgentHTTP", "Inventory", "Primitives", "MetricHandles",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: swiftNIO),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Worker",
            dependencies: [
                "AMQP", "CloudBus", "CloudBusAMQP", "KeyedExecution", "AgentHTTP", "Inventory", "InventoryPostgres",
                "LiveSettings",
                "KVM", "KVMMessages", "ZBS", "ZBSMessages", "Primitives", "BodyCompression",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: swiftNIO),
            ]
        ),

        // Options the two command-line tools share (broker URL, config file, log level).
        .target(
            name: "CommandOptions",
            dependencies: [
                "Worker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The production binary: run, publish, declare, inventory import. Links no test fakes and no benchmark.
        .executableTarget(
            name: "cloudbus-worker",
            dependencies: [
                "Worker", "CommandOptions", "CloudBusAMQP", "CloudBus", "Inventory", "AMQP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // Release links with lld, relative relocations packed (RELR) and no exported symbol table: the static
            // stdlib's link arguments export every symbol (3.5 MB of names, all read at start) and gold wrote
            // 153,000 relocations as 3.7 MB of RELA entries, all read once at start — 6.6 MB of peak RSS (58.4 →
            // 51.8 MB at W=100 from a cold page cache, BENCHMARKS.md). Nothing resolves the worker's own symbols at run time (the Swift
            // runtime finds its metadata through its sections). RELR needs glibc ≥ 2.36 (Debian 12).
            linkerSettings: [
                .unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                    "-Xlinker", "--no-export-dynamic",
                ], .when(platforms: [.linux], configuration: .release)),
            ]
        ),

        // Fake remote peers (KVM host agent, ZBS MDS agent) speaking the real protocol on 127.0.0.1, manual clocks,
        // loopback listeners that never answer, the test broker's settings: for the tests and the dev tool only.
        .target(
            name: "CloudBusTesting",
            dependencies: [
                "AgentHTTP", "AMQP", "Primitives",
                .product(name: "NIOCore", package: swiftNIO),
                .product(name: "NIOPosix", package: swiftNIO),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        // The benchmark (worker vs the rabbitmq-c null responder vs pika, and the domain benchmarks) and the
        // simulated host agent: development tools, kept out of the production binary.
        .target(
            name: "CloudBusBench",
            dependencies: [
                "Worker", "CommandOptions", "CloudBusTesting", "CloudBusAMQP", "CloudBus", "AMQP",
                "CRabbitMQ", "CRabbitMQShim", "KVM", "KVMMessages", "ZBS", "Inventory", "AgentHTTP",
                "Primitives",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "cloudbus-bench", dependencies: ["CloudBusBench"]),
        // Counts every heap allocation of a process it is preloaded into; snapshots on SIGUSR2 (issue 15).
        .target(name: "CMallocCounter"),

        .testTarget(name: "PrimitivesTests", dependencies: ["Primitives", "CJSONScan"]),
        .testTarget(name: "BodyCompressionTests", dependencies: ["BodyCompression"]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "CloudBusTesting"]),
        .testTarget(
            name: "CloudBusTests",
            dependencies: [
                "CloudBus", "KVMMessages", "Primitives",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "KeyedExecutionTests",
            dependencies: [
                "KeyedExecution", "CloudBusTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "AgentHTTPTests",
            dependencies: [
                "AgentHTTP", "CloudBusTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOHTTP1", package: swiftNIO),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "InventoryTests",
            dependencies: [
                "Inventory", "InventoryPostgres", "CloudBusTesting", "Primitives", "CChecksum", "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "KVMTests",
            dependencies: [
                "KVM", "KVMMessages", "CloudBusTesting", "Inventory", "CloudBus", "AgentHTTP", "LiveSettings",
                "Primitives",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ZBSTests",
            dependencies: [
                "ZBS", "ZBSMessages", "CloudBusTesting", "Inventory", "CloudBus", "AgentHTTP", "Primitives",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: swiftNIO),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: ["Worker", "AMQP", "CloudBus", "CloudBusTesting", "Inventory", "KVMMessages", "ZBSMessages",
                           "Primitives"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Worker", "CloudBusTesting", "AMQP", "AgentHTTP", "CloudBus", "CloudBusAMQP", "Inventory",
                "InventoryPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"), "KVM", "KVMMessages",
                "KeyedExecution", "LiveSettings", "Primitives", "BodyCompression",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "CloudBusBenchTests",
            dependencies: ["CloudBusBench", "CloudBusTesting", "AMQP"]
        ),
        // The release worker under libCloudBusMallocCounter.so (paths from `make test`): allocations per echo.
        .testTarget(
            name: "AllocationBudgetTests",
            dependencies: [
                "CloudBusBench", "CloudBusTesting", "CloudBusAMQP", "CloudBus", "AMQP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// Cross-target strictness: complete concurrency checking comes with Swift 6 language mode;
// explicit imports keep module boundaries honest.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // Nonisolated async functions run on their caller's executor instead of hopping to the generic one at entry and
    // after every call (SE-0461, the Swift 6.2 default for new code). For a task that prefers the consuming
    // connection's thread (every message's), each such hop was a `swift_task_switch` that looked the preference up
    // under the task's status lock: 28 per echo, 9 with this (counted with uprobes, BENCHMARKS.md).
    settings.append(.enableUpcomingFeature("NonisolatedNonsendingByDefault"))
    // Release builds specialise generics across the project's modules (the keyed executor's state for `String` keys,
    // the codec's containers for each message type): −12 % CPU per echo in the bench. unsafeFlags is acceptable here:
    // this package is a daemon, never a dependency. Dependencies keep their own flags.
    settings.append(.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)))
    target.swiftSettings = settings
}
