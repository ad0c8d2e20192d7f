// swift-tools-version: 6.1
// Meterline benchmarks: a separate package so the benchmark tooling stays out of the product's graph.
// Run: `swift package --disable-sandbox benchmark` from this directory.
import PackageDescription

let package = Package(
    name: "MeterlineBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` so the product references do not depend on the name of the checkout directory.
        .package(name: "Meterline", path: "../"),
        // Only the malloc interposer trait: the default traits pull a runtime interposer that is not available here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic event generator shared by the suites.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "MeterlineCore", package: "Meterline")],
            path: "Sources/BenchmarkSupport"
        ),
        .executableTarget(
            name: "Core",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MeterlineCore", package: "Meterline"),
            ],
            path: "Benchmarks/Core",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Pipeline",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MeterlineCore", package: "Meterline"),
                .product(name: "MeterlinePipeline", package: "Meterline"),
            ],
            path: "Benchmarks/Pipeline",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Lineage",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                // MeterlineLineage is not a product of its own; it comes with MeterlineEngine.
                .product(name: "MeterlineEngine", package: "Meterline"),
            ],
            path: "Benchmarks/Lineage",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Ledger",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                // MeterlineLedger is not a product of its own; it comes with MeterlineEngine.
                .product(name: "MeterlineEngine", package: "Meterline"),
            ],
            path: "Benchmarks/Ledger",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
