import Benchmark
import BenchmarkSupport
import Foundation
import MeterlineCore
import MeterlinePipeline

// The workload of issue #5 (registered from `benchmarks` in Pipeline.swift): 10,000,000 events of ~225 bytes
// (METERLINE_BENCH_PIPELINE_COUNT to change), 100,000 customers, 0.5 % exact duplicates, one hour of event time
// (one hourly window per customer and model: ~400,000 windows, ~25 events each), parse → validate → dedup →
// window → rate → lineage columns → a checkpoint every 500K events, in memory.
// The same lines are written to `customerScaleInputPath` for the DuckDB reference (`Benchmarks/pipeline.sh`).

let customerScaleInputPath = ProcessInfo.processInfo.environment["METERLINE_BENCH_PIPELINE_EVENTS"]
    ?? "/tmp/meterline-bench-pipeline-events.jsonl"
let customerScaleEvents = ProcessInfo.processInfo.environment["METERLINE_BENCH_PIPELINE_COUNT"].flatMap { Int($0) } ?? 10_000_000
/// A checkpoint barrier (outputs, lineage columns and offsets taken) every this many input events, as the backfill
/// takes one every 500K lines and the streaming engine one per commit interval: lineage columns and outputs are
/// then reused buffers, as in every real run, not one 800 MB set grown by doubling.
let customerScaleCheckpointEvery = 500_000

/// The generated input, built on first use (a lazy global), so the other benchmarks of the suite do not pay for it.
struct CustomerScaleInput: Sendable {
    let flat: [UInt8]
    let messages: [(partition: Int32, offset: Int64, start: Int, count: Int)]
    /// The messages in batches of 2,048, as a shard receives them: (first byte, byte count, records relative to it).
    let batches: [(start: Int, count: Int, records: [BatchRecord])]
    let duplicates: Int
    static let shared = CustomerScaleInput()

    init() {
        let generated = EventGenerator.generate(count: customerScaleEvents, subjects: 100_000, spanMicros: 3_600_000_000 - 2_000_000,
                                                duplicateRate: 0.005, seed: 5)
        // Written in 8 MiB chunks to a temporary file, then renamed (atomic: the harness may run two benchmark
        // processes that both write it). Not through one 2.4 GB `Data`: that corrupted the bytes past 2 GiB here.
        let temporary = customerScaleInputPath + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary) else { fatalError("cannot write \(temporary)") }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(8 << 20 + 4096)
        for l in generated.lines {
            chunk += l
            chunk.append(UInt8(ascii: "\n"))
            if chunk.count >= 8 << 20 { handle.write(Data(chunk)); chunk.removeAll(keepingCapacity: true) }
        }
        handle.write(Data(chunk))
        handle.closeFile()
        guard rename(temporary, customerScaleInputPath) == 0 else { fatalError("cannot rename \(temporary)") }
        var flat: [UInt8] = []
        flat.reserveCapacity(generated.lines.reduce(0) { $0 + $1.count })
        var messages: [(partition: Int32, offset: Int64, start: Int, count: Int)] = []
        var nextOffset: [Int64] = [0, 0]
        for (l, subject) in zip(generated.lines, generated.subjects) {
            let p = subject % 2
            messages.append((Int32(p), nextOffset[p], flat.count, l.count))
            nextOffset[p] += 1
            flat += l
        }
        self.flat = flat
        self.messages = messages
        batches = stride(from: 0, to: messages.count, by: 2_048).map { first in
            let chunk = messages[first..<min(first + 2_048, messages.count)]
            let base = chunk.first!.start
            let records = chunk.map { BatchRecord(partition: $0.partition, offset: $0.offset, start: Int32($0.start - base), count: Int32($0.count)) }
            return (base, chunk.last!.start + chunk.last!.count - base, records)
        }
        duplicates = generated.duplicates
    }
}

func customerScaleBenchmarks(config: Configuration) {
    let now = EventGenerator.startMicros + 2 * 86_400_000_000
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .eventsPerSecond],
        maxDuration: .seconds(60),
        maxIterations: 5
    )

    func check(_ c: Counters) {
        let duplicates = CustomerScaleInput.shared.duplicates
        precondition(c.input == customerScaleEvents && c.rejectedTotal == 0 && c.duplicate == duplicates
                     && c.accepted == customerScaleEvents - duplicates, "unexpected counters \(c), \(duplicates) duplicates generated")
    }

    /// One pipeline on this thread, fed batches of 2,048 messages (`process(batch:)`, as a shard thread is).
    Benchmark("Pipeline_100k_customers_1_shard", configuration: configuration) { benchmark in
        let input = CustomerScaleInput.shared
        input.flat.withUnsafeBytes { all in
            for _ in benchmark.scaledIterations {
                let pipeline = Pipeline(config: config)
                let clock = ContinuousClock()
                benchmark.startMeasurement()
                let t0 = clock.now
                var outputs = 0, sinceCheckpoint = 0
                for b in input.batches {
                    b.records.withUnsafeBufferPointer {
                        pipeline.process(batch: UnsafeRawBufferPointer(rebasing: all[b.start..<b.start + b.count]), records: $0, nowMicros: now)
                    }
                    sinceCheckpoint += b.records.count
                    if sinceCheckpoint >= customerScaleCheckpointEvery {
                        let c = pipeline.checkpoint()
                        outputs += c.billing.count + c.lineage.count
                        sinceCheckpoint = 0
                    }
                }
                pipeline.finish()
                let out = pipeline.checkpoint()
                let elapsed = clock.now - t0
                benchmark.stopMeasurement()
                blackHole(outputs + out.billing.count)
                check(pipeline.counters)
                benchmark.measurement(.eventsPerSecond, Int(Double(customerScaleEvents) / seconds(elapsed) / 1_000))
            }
        }
    }

    /// Two shard threads fed by this thread (routing by input partition, 2 partitions): 3 threads on 2 cores.
    Benchmark("Pipeline_100k_customers_2_shards", configuration: configuration) { benchmark in
        let input = CustomerScaleInput.shared
        input.flat.withUnsafeBytes { all in
            for _ in benchmark.scaledIterations {
                let sharded = ShardedPipeline(shards: 2, routing: .partition) { Pipeline(config: config) }
                let clock = ContinuousClock()
                benchmark.startMeasurement()
                let t0 = clock.now
                var outputs = 0
                for (i, m) in input.messages.enumerated() {
                    sharded.process(partition: m.partition, offset: m.offset,
                                    value: UnsafeRawBufferPointer(rebasing: all[m.start..<m.start + m.count]), nowMicros: now)
                    if (i + 1) % customerScaleCheckpointEvery == 0 {
                        outputs += sharded.checkpoint().reduce(0) { $0 + $1.billing.count + $1.lineage.count }
                    }
                }
                let outs = sharded.finish()
                let elapsed = clock.now - t0
                benchmark.stopMeasurement()
                blackHole(outputs + outs.reduce(0) { $0 + $1.billing.count })
                sharded.stop()
                check(sharded.counters)
                benchmark.measurement(.eventsPerSecond, Int(Double(customerScaleEvents) / seconds(elapsed) / 1_000))
            }
        }
    }
}
