// swift-tools-version: 6.1
import PackageDescription

// Module graph (arrows point one way, down this list):
//   CRabbitMQ, CRabbitMQShim  ← AMQP ← CloudBus ┐
//   KeyedExecution, AgentHTTP, Inventory ────────┴← KVM, ZBS ← Worker ← cloudbus-worker
// AMQP and KeyedExecution know nothing of ZStack; domain modules never touch rabbitmq-c.
let package = Package(
    name: "cloudbus-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cloudbus-worker", targets: ["cloudbus-worker"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "CloudBus", targets: ["CloudBus"]),
        .library(name: "KeyedExecution", targets: ["KeyedExecution"]),
        .library(name: "CloudBusTesting", targets: ["CloudBusTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // rabbitmq-c from Debian's librabbitmq-dev (0.11). Headers only; linking comes from pkg-config.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // The few things Swift cannot import from rabbitmq-c (variadic login, bit-flag macros).
        .target(name: "CRabbitMQShim", dependencies: ["CRabbitMQ"]),
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ", "CRabbitMQShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CloudBus",
            dependencies: [
                "AMQP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KeyedExecution",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "AgentHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Inventory",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KVM",
            dependencies: [
                "CloudBus", "AgentHTTP", "Inventory", "KeyedExecution",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ZBS",
            dependencies: [
                "CloudBus", "AgentHTTP", "Inventory", "KeyedExecution",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Worker",
            dependencies: [
                "AMQP", "CloudBus", "KeyedExecution", "AgentHTTP", "Inventory", "KVM", "ZBS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Fake remote peers (KVM host agent, ZBS MDS agent) speaking the real protocol on 127.0.0.1:
        // used by the tests and by `cloudbus-worker simulate-agent`.
        .target(
            name: "CloudBusTesting",
            dependencies: [
                "AgentHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "cloudbus-worker",
            dependencies: [
                "Worker", "CloudBusTesting", "AMQP", "CloudBus", "Inventory", "KVM", "ZBS", "AgentHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP"]),
        .testTarget(name: "CloudBusTests", dependencies: ["CloudBus"]),
        .testTarget(
            name: "KeyedExecutionTests",
            dependencies: [
                "KeyedExecution", "CloudBusTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "AgentHTTPTests", dependencies: ["AgentHTTP", "CloudBusTesting"]),
        .testTarget(
            name: "InventoryTests",
            dependencies: ["Inventory", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "KVMTests", dependencies: ["KVM", "CloudBusTesting", "Inventory", "CloudBus"]),
        .testTarget(name: "ZBSTests", dependencies: ["ZBS", "CloudBusTesting", "Inventory", "CloudBus", "AgentHTTP"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Worker", "CloudBusTesting", "AMQP", "CloudBus", "Inventory", "KVM", "ZBS", "KeyedExecution",
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
    target.swiftSettings = settings
}
