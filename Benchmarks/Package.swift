// swift-tools-version: 6.1
import PackageDescription

// Micro benchmarks for cloudbus-worker, kept in their own package (as swift-kafka-client keeps `Benchmarks/`) so the
// main package's resolution and CI never pull in the benchmark harness. The end-to-end benchmark stays
// `cloudbus-bench` in the main package; see README.md.
//
// ordo-one/benchmark is named with `traits: ["MallocInterposer"]` on purpose: its default traits also enable
// "RuntimeInterposer", which on Linux with Swift 6.3 depends on ordo-one/swift-runtime-interposer, a package this
// machine's package mirror does not have (resolution fails with "does not appear to be a git repository"). Naming the
// traits explicitly turns the default set off, so that dependency is pruned; malloc counts still come from
// ordo-one/malloc-interposer. Retain/release counts (the runtime interposer's metrics) are not available.
let package = Package(
    name: "cloudbus-worker-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "cloudbus-worker", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The process-CPU metric and the metric set the benchmark targets share.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")]
        ),
        // The ZStack wire: envelope decode, reply encode, hash-ring lookup.
        .executableTarget(
            name: "CloudBusBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CloudBus", package: "cloudbus-worker"),
                .product(name: "KVMMessages", package: "cloudbus-worker"),
            ],
            path: "Benchmarks/CloudBusBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Per-key serial execution: submit and complete throughput.
        .executableTarget(
            name: "KeyedExecutionBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KeyedExecution", package: "cloudbus-worker"),
            ],
            path: "Benchmarks/KeyedExecutionBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

// The same upcoming features as the main package, so code reads the same on both sides.
for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
