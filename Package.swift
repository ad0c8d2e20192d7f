// swift-tools-version: 6.1
// Meterline: Kafka in, money out. Module graph (dependencies point one way):
//   meterline (CLI) → MeterlineEngine → {MeterlineKafka, MeterlineLineage, MeterlineLedger, MeterlineConfig}
//   meterline (CLI) → MeterlineAdmin (HTTP endpoints; knows nothing of the engine but the probes it is given)
//     → MeterlinePipeline → MeterlineCore
// Only MeterlineKafka imports CRdKafka; only MeterlineLineage imports CZstd.
import PackageDescription

/// Release builds of the per-event pipeline skip the dynamic exclusivity checks (a thread-local access-set insert per
/// class-property access, ~5 % of the pipeline's per-event path in profiles); debug builds, which run the tests, keep them.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Meterline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meterline", targets: ["meterline"]),
        .library(name: "MeterlineCore", targets: ["MeterlineCore"]),
        .library(name: "MeterlinePipeline", targets: ["MeterlinePipeline"]),
        .library(name: "MeterlineEngine", targets: ["MeterlineEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C interop: one module per C library, system libraries from Debian.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),

        // Pure heart: events, meters, money, price books, rating. No I/O, no clock, no Foundation.
        .target(name: "MeterlineCore"),
        // YAML config → Core values, with errors naming file, path and expectation.
        .target(
            name: "MeterlineConfig",
            dependencies: ["MeterlineCore", .product(name: "Yams", package: "Yams")]
        ),
        // A prefetch hint for the dedup and window tables (header-only C).
        .target(name: "CPrefetch"),
        // Parking a thread on a word until another wakes it (Linux futex), for the rings' blocking ends (header-only C).
        .target(name: "CFutex"),
        // Asking the kernel for a thread's CPU time slice (Linux sched_setattr), for the backfill's busy threads (header-only C).
        .target(name: "CSched"),
        // Partitions, shards, rings, dedup, windows, checkpoints. No I/O.
        .target(
            name: "MeterlinePipeline",
            dependencies: ["MeterlineCore", "CPrefetch", "CFutex", "CSched", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: hotPathSettings
        ),
        // The only code that touches librdkafka.
        .target(name: "MeterlineKafka", dependencies: ["CRdKafka"]),
        // The only code that touches zstd: lineage files.
        .target(name: "MeterlineLineage", dependencies: ["CZstd"]),
        // Journal entries and ERP exports.
        .target(name: "MeterlineLedger", dependencies: ["MeterlineCore"]),
        // Wires a run: embedded/streaming, backfill, bench.
        .target(
            name: "MeterlineEngine",
            dependencies: [
                "MeterlineCore", "MeterlineConfig", "MeterlinePipeline", "MeterlineKafka",
                "MeterlineLineage", "MeterlineLedger", "CPrefetch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Admin HTTP endpoints (/metrics, /healthz, /readyz) of a running engine.
        .target(
            name: "MeterlineAdmin",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "meterline",
            dependencies: [
                "MeterlineEngine", "MeterlineCore", "MeterlineConfig", "MeterlineLineage", "MeterlineLedger", "MeterlineAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        .testTarget(name: "MeterlineCoreTests", dependencies: ["MeterlineCore", "MeterlineConfig"]),
        .testTarget(name: "MeterlinePipelineTests", dependencies: ["MeterlinePipeline", "MeterlineConfig"]),
        .testTarget(name: "MeterlineKafkaTests", dependencies: ["MeterlineKafka"]),
        .testTarget(name: "MeterlineLineageTests", dependencies: ["MeterlineLineage"]),
        .testTarget(name: "MeterlineLedgerTests", dependencies: ["MeterlineLedger", "MeterlineConfig"], exclude: ["Golden"]),
        .testTarget(
            name: "MeterlineEngineTests",
            dependencies: ["MeterlineEngine", "MeterlineKafka", "MeterlineConfig", "MeterlinePipeline",
                           .product(name: "Atomics", package: "swift-atomics"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus"), "MeterlineAdmin"]
        ),
    ]
)
