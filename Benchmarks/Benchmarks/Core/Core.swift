import Benchmark
import BenchmarkSupport
import Foundation
import MeterlineCore

/// Where the parse benchmark writes its input lines (one per line), for the orjson reference (`orjson_reference.py`).
let parseInputPath = ProcessInfo.processInfo.environment["METERLINE_BENCH_EVENTS"] ?? "/tmp/meterline-bench-events.jsonl"

let benchmarks: @Sendable () -> Void = {
    // No `.instructions`: this VM exposes no hardware performance counters (perf_event_open fails with ENOENT),
    // so the metric would stay empty. Add it back on a machine with a PMU.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    // MARK: Parse + validate: one scaled iteration = one event.
    Benchmark("Parse_validate_CloudEvent") { benchmark in
        let generated = EventGenerator.generate(count: 10_000)
        let joined = generated.lines.map { $0 + [UInt8(ascii: "\n")] }.joined()
        precondition(FileManager.default.createFile(atPath: parseInputPath, contents: Data(joined)), "cannot write \(parseInputPath)")
        // All lines back to back in one buffer, so the loop does no per-event bookkeeping beyond two offsets.
        var flat: [UInt8] = []
        var bounds: [(Int, Int)] = []
        for l in generated.lines { bounds.append((flat.count, l.count)); flat += l }
        let catalog = MeterCatalog([
            Meter(slug: "tokens", eventType: "llm_tokens", aggregation: .sum, valueProperty: try! JSONPath("$.tokens"),
                  groupBy: [("model", try! JSONPath("$.model"))]),
        ])
        var parser = EventParser(catalog: catalog)
        let now = Int64.max / 2
        flat.withUnsafeBytes { all in
            // Every generated line must be accepted, or the figure would be of the reject path.
            for (start, n) in bounds {
                do { _ = try parser.parse(UnsafeRawBufferPointer(rebasing: all[start..<start + n]), nowMicros: now) }
                catch { fatalError("generated event rejected: \(error)") }
            }
            var cursor = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let (start, n) = bounds[cursor]
                cursor = cursor == bounds.count - 1 ? 0 : cursor + 1
                do {
                    let e = try parser.parse(UnsafeRawBufferPointer(rebasing: all[start..<start + n]), nowMicros: now)
                    blackHole(e.identity)
                    blackHole(parser.readings.count)
                } catch {
                    blackHole(error)
                }
            }
            benchmark.stopMeasurement()
        }
    }

    // MARK: Rating: a graduated price of 5 tiers; one scaled iteration = one call.
    let price = Price(meter: "tokens", model: .graduated([
        Tier(upTo: Quantity(units: 1_000), unitAmount: try! Amount("0.002"), flatAmount: try! Amount("5")),
        Tier(upTo: Quantity(units: 10_000), unitAmount: try! Amount("0.0018")),
        Tier(upTo: Quantity(units: 100_000), unitAmount: try! Amount("0.0015")),
        Tier(upTo: Quantity(units: 1_000_000), unitAmount: try! Amount("0.0012"), flatAmount: try! Amount("10")),
        Tier(upTo: nil, unitAmount: try! Amount("0.001")),
    ]))
    // Period quantities spread over all five tiers, with 9-decimal fractions.
    let quantities: [Quantity] = {
        var rng = SeededGenerator(seed: 7)
        return (0..<1_000).map { _ in
            let exponent = Int.random(in: 2...7, using: &rng)
            var p = 1; for _ in 0..<exponent { p *= 10 }
            let units = Int.random(in: 0..<p, using: &rng)
            return Quantity(raw: Int128(units) * Quantity.one + Int128(Int.random(in: 0..<1_000_000_000, using: &rng)))
        }
    }()
    // (before, after) pairs of a growing period total: windows that add 1–20,000 units.
    let steps: [(Quantity?, Quantity)] = {
        var rng = SeededGenerator(seed: 9)
        var total = Quantity.zero
        var out: [(Quantity?, Quantity)] = []
        for i in 0..<1_000 {
            let before: Quantity? = i == 0 ? nil : total
            total = Quantity(raw: total.raw + Int128(Int.random(in: 1...20_000, using: &rng)) * Quantity.one)
            out.append((before, total))
        }
        return out
    }()

    Benchmark("Price_graduated_5_tiers") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try! price.price(quantities[i]).amount)
        }
    }

    Benchmark("Increment_graduated_5_tiers") { benchmark in
        for i in benchmark.scaledIterations {
            let (before, after) = steps[i]
            blackHole(try! price.increment(before: before, after: after).amount)
        }
    }

    // The allocation-free incremental rating (same amounts, property-tested against `increment`).
    Benchmark("IncrementAmount_graduated_5_tiers") { benchmark in
        for i in benchmark.scaledIterations {
            let (before, after) = steps[i]
            blackHole(try! price.incrementAmount(before: before, after: after))
        }
    }
}
