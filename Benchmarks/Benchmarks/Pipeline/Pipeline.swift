import Benchmark
import BenchmarkSupport
import MeterlineCore
import MeterlinePipeline

/// The in-memory pipeline (parse, dedup, hourly windows, contracts, rating, lineage, checkpoint) on generated
/// events. One iteration = 100,000 events through a fresh `Pipeline`, then `finish()` and `checkpoint()`.
let eventsPerRun = 100_000

/// Events per second of wall-clock time of one run (the run's events / its wall clock).
extension BenchmarkMetric {
    static let eventsPerSecond = BenchmarkMetric.custom("Events/s (K)", polarity: .prefersLarger, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // No `.instructions`: this VM has no hardware performance counters.
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .peakMemoryResident, .eventsPerSecond],
        maxDuration: .seconds(10),
        maxIterations: 20
    )
    dedupRingBenchmarks()  // DedupRing.swift

    let usd = Currency(code: "USD")!
    let config = Configuration(
        meters: [
            Meter(slug: "tokens", eventType: "llm_tokens", aggregation: .sum, valueProperty: try! JSONPath("$.tokens"),
                  groupBy: [("model", try! JSONPath("$.model"))]),
        ],
        priceBooks: [
            PriceBook(id: "std", version: 1, currency: usd, effectiveFrom: 1_767_225_600 * 1_000_000, // 2026-01-01
                      prices: [Price(meter: "tokens", model: .graduated([
                          Tier(upTo: Quantity(units: 1_000), unitAmount: try! Amount("0.002"), flatAmount: try! Amount("5")),
                          Tier(upTo: Quantity(units: 10_000), unitAmount: try! Amount("0.0018")),
                          Tier(upTo: Quantity(units: 100_000), unitAmount: try! Amount("0.0015")),
                          Tier(upTo: Quantity(units: 1_000_000), unitAmount: try! Amount("0.0012")),
                          Tier(upTo: nil, unitAmount: try! Amount("0.001")),
                      ]))]),
        ],
        contracts: [Contract(subject: "us-cust-*", entity: "us", priceBook: "std")],
        entities: [LegalEntity(id: "us", currency: usd, unbilledReceivable: "1210", usageRevenue: "4010")]
    )

    customerScaleBenchmarks(config: config)  // CustomerScale.swift
    floorBenchmarks(config: config)  // Floor.swift

    Benchmark("Pipeline_100k_events_4_partitions") { benchmark in
        // 100,000 events over 24 h of event time, 1,000 customers, ~0.5 % exact duplicates.
        let generated = EventGenerator.generate(count: eventsPerRun, spanMicros: 86_400_000_000, duplicateRate: 0.005, seed: 11)
        var flat: [UInt8] = []
        var messages: [(partition: Int32, offset: Int64, start: Int, count: Int)] = []
        var nextOffset = [Int64](repeating: 0, count: 4)
        for (l, subject) in zip(generated.lines, generated.subjects) {
            let p = subject % 4
            messages.append((Int32(p), nextOffset[p], flat.count, l.count))
            nextOffset[p] += 1
            flat += l
        }
        let now = EventGenerator.startMicros + 2 * 86_400_000_000
        flat.withUnsafeBytes { all in
            for _ in benchmark.scaledIterations {
                let pipeline = Pipeline(config: config)
                let clock = ContinuousClock()
                benchmark.startMeasurement()
                let t0 = clock.now
                for m in messages {
                    pipeline.process(partition: m.partition, offset: m.offset,
                                     value: UnsafeRawBufferPointer(rebasing: all[m.start..<m.start + m.count]), nowMicros: now)
                }
                pipeline.finish()
                let out = pipeline.checkpoint()
                let elapsed = clock.now - t0
                benchmark.stopMeasurement()
                blackHole(out.billing.count)
                let c = pipeline.counters
                precondition(c.input == eventsPerRun && c.rejectedTotal == 0 && c.duplicate == generated.duplicates
                             && c.accepted == eventsPerRun - generated.duplicates,
                             "unexpected counters \(c), \(generated.duplicates) duplicates generated")
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                benchmark.measurement(.eventsPerSecond, Int(Double(eventsPerRun) / seconds / 1_000))
            }
        }
    }
}
