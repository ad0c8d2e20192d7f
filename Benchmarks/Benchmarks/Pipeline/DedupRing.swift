import Benchmark
import Foundation
import MeterlineCore
import MeterlinePipeline

// DedupTable and SPSCRing on their own. Registered from `benchmarks` in Pipeline.swift.

extension BenchmarkMetric {
    static let opsPerSecond = BenchmarkMetric.custom("Ops/s (K)", polarity: .prefersLarger, useScalingFactor: false)
    static let bytesPerIdX100 = BenchmarkMetric.custom("Bytes/id (x100)", polarity: .prefersSmaller, useScalingFactor: false)
    static let batchesPerSecond = BenchmarkMetric.custom("Batches/s (K)", polarity: .prefersLarger, useScalingFactor: false)
    static let elementsPerSecond = BenchmarkMetric.custom("Elements/s (K)", polarity: .prefersLarger, useScalingFactor: false)
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func dedupRingBenchmarks() {
    let keyCount = 1_000_000
    let dedupConfig = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .opsPerSecond, .bytesPerIdX100],
        maxDuration: .seconds(10),
        maxIterations: 20
    )
    var g = SeededGenerator(seed: 21)
    let present = (0..<keyCount).map { _ in Hash128(high: g.next(), low: g.next()) }
    let absent = (0..<keyCount).map { _ in Hash128(high: g.next(), low: g.next()) }

    /// One iteration: 1M inserts into a table that starts small (so it grows, as a partition's does),
    /// then 1M lookups of present and 1M of absent keys: 3M operations. `prefetch` touches the next key's slot.
    func dedupRun(_ benchmark: Benchmark, prefetch: Bool) {
        for _ in benchmark.scaledIterations {
            var t = DedupTable()
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let t0 = clock.now
            var fresh = 0
            for i in 0..<keyCount {
                if prefetch && i + 1 < keyCount { t.prefetch(present[i + 1]) }
                if t.insert(present[i], day: 20_500 + Int32(i & 31)) { fresh += 1 }
            }
            var hits = 0
            for i in 0..<keyCount {
                if prefetch && i + 1 < keyCount { t.prefetch(present[i + 1]) }
                if t.contains(present[i]) { hits += 1 }
            }
            for i in 0..<keyCount {
                if prefetch && i + 1 < keyCount { t.prefetch(absent[i + 1]) }
                if t.contains(absent[i]) { hits -= 1 }
            }
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(fresh == keyCount && hits == keyCount && t.count == keyCount)
            blackHole(t)
            benchmark.measurement(.opsPerSecond, Int(Double(3 * keyCount) / seconds(elapsed) / 1_000))
            benchmark.measurement(.bytesPerIdX100, t.bytesAllocated * 100 / t.count)
        }
    }

    Benchmark("Dedup_insert_contains_1M", configuration: dedupConfig) { benchmark in
        dedupRun(benchmark, prefetch: true)
    }
    Benchmark("Dedup_insert_contains_1M_no_prefetch", configuration: dedupConfig) { benchmark in
        dedupRun(benchmark, prefetch: false)
    }

    /// Steady state: 35 days of 100k ids remembered; one iteration = one day of 100k new ids (each looked up,
    /// then inserted, as the pipeline does) and the expiry of the oldest day. Bytes/id measured after the expiry.
    Benchmark("Dedup_steady_state_35_days", configuration: dedupConfig) { benchmark in
        let perDay = 100_000
        var t = DedupTable()
        var day: Int32 = 20_000
        var k = SeededGenerator(seed: 22)
        func oneDay() -> Int {
            var dup = 0
            for _ in 0..<perDay {
                let key = Hash128(high: k.next(), low: k.next())
                if t.contains(key) { dup += 1 } else { t.insert(key, day: day) }
            }
            t.expire(before: day - 34)
            day += 1
            return dup
        }
        for _ in 0..<40 { _ = oneDay() }
        let clock = ContinuousClock()
        for _ in benchmark.scaledIterations {
            benchmark.startMeasurement()
            let t0 = clock.now
            let dup = oneDay()
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(dup == 0 && t.count == 35 * perDay)
            benchmark.measurement(.opsPerSecond, Int(Double(2 * perDay) / seconds(elapsed) / 1_000))
            benchmark.measurement(.bytesPerIdX100, t.bytesAllocated * 100 / t.count)
        }
    }

    let ringConfig = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .elementsPerSecond, .batchesPerSecond],
        maxDuration: .seconds(10),
        maxIterations: 20
    )

    /// One iteration: a producer thread pushes `batches` batches (arrays of `batchSize` Ints, built before the
    /// measurement) through a 64-slot ring; this thread pops and sums them.
    func ringRun(_ benchmark: Benchmark, batches: Int, batchSize: Int) {
        let prepared = (0..<batches).map { b in Array(b * batchSize..<(b + 1) * batchSize) }
        let expectedSum = (batches * batchSize) * (batches * batchSize - 1) / 2
        for _ in benchmark.scaledIterations {
            let ring = SPSCRing<[Int]>(capacity: 64)
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let t0 = clock.now
            let producer = Thread {
                for b in prepared { ring.push(b) }
            }
            producer.start()
            var sum = 0
            for _ in 0..<batches {
                for v in ring.pop() { sum &+= v }
            }
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(sum == expectedSum && ring.isEmpty)
            benchmark.measurement(.elementsPerSecond, Int(Double(batches * batchSize) / seconds(elapsed) / 1_000))
            benchmark.measurement(.batchesPerSecond, Int(Double(batches) / seconds(elapsed) / 1_000))
        }
    }

    Benchmark("SPSCRing_2threads_batches",
              configuration: ringConfig) { benchmark in
        // 1,000 batches of 1,000 Ints (1M elements) per iteration.
        ringRun(benchmark, batches: 1_000, batchSize: 1_000)
    }
    Benchmark("SPSCRing_2threads_batches_of_1",
              configuration: ringConfig) { benchmark in
        // The per-hand-off cost: 1M one-element batches per iteration.
        ringRun(benchmark, batches: 1_000_000, batchSize: 1)
    }
}
