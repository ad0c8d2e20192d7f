import Foundation
import MeterlineCore
import MeterlinePipeline

// Owns: `meterline bench`, the benchmark harness of the CLI: the synthetic workload of `run --embedded`, held in
// memory, through the same pipeline code the streaming engine and the backfill run (batches of 2,048 messages,
// checkpoints every `checkpointEvery` messages), measured by the wall clock of this process. No Kafka, no files:
// what it measures is the pipeline (parse → validate → dedup → window → rate → lineage columns), not the I/O.

/// What `meterline bench` runs: the workload's size and shape, the shard count, the checkpoint cadence.
/// Invariant: `events > 0`, `shards >= 1`, `partitions >= 1`, `checkpointEvery > 0`.
public struct BenchOptions: Sendable {
    public var events: Int
    public var seed: UInt64 = 42
    public var hours: Int = 24
    public var customersPerEntity: Int = 1000
    public var shards: Int = 1
    /// Input partitions the messages are spread over by their key (the subject), as Kafka's default partitioner would.
    public var partitions: Int = 8
    public var checkpointEvery: Int = 500_000
    public init(events: Int) { self.events = events }
}

/// The result of one bench run: conservation counters, outputs and the measured time.
/// Invariant: `counters` count every message of the workload exactly once when `complete`.
public struct BenchResult: Sendable {
    public var options: BenchOptions
    public var counters = Counters()
    public var billingEvents = 0
    public var lineageEvents = 0
    public var workloadBytes = 0
    /// Seconds from the first message handed to the pipeline to the last checkpoint's outputs.
    public var seconds: Double = 0
    public var generateSeconds: Double = 0
    /// Remembered ids and the dedup tables' slot bytes at the end of the run (before the tables are freed).
    public var dedupIds = 0
    public var dedupBytes = 0

    public var complete: Bool { counters.input == options.events && counters.balanced }
    public var eventsPerSecond: Double { seconds > 0 ? Double(counters.input) / seconds : 0 }

    public var text: String {
        var s = "Meterline bench (in-memory pipeline, no Kafka, no files)\n"
        s += "  workload             \(options.events) events (\(workloadBytes) bytes, seed \(options.seed), \(options.hours) h, \(options.customersPerEntity * 2) customers), generated in \(String(format: "%.2f", generateSeconds)) s\n"
        s += "  shards               \(options.shards) over \(options.partitions) input partitions; a checkpoint every \(options.checkpointEvery) messages\n"
        s += counters.outcomeLines
        s += "  billing events       \(billingEvents)\n"
        s += "  lineage rows         \(lineageEvents)\n"
        s += "  dedup                \(dedupIds) ids in \(dedupBytes) bytes (\(dedupIds > 0 ? String(format: "%.1f", Double(dedupBytes) / Double(dedupIds)) : "-") B/id)\n"
        s += String(format: "  time                 %.3f s, %.0f events/s (%.0f per shard)\n", seconds, eventsPerSecond, eventsPerSecond / Double(options.shards))
        s += "  result               \(complete ? "OK: every message counted once" : "INCOMPLETE: see counts above")\n"
        return s
    }

    /// The result as one JSON object (keys as in the text, numbers as JSON numbers).
    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        w.field("events", options.events)
        w.field("shards", options.shards)
        w.field("partitions", options.partitions)
        w.key("seed"); w.raw(String(options.seed))
        w.field("workloadBytes", workloadBytes)
        w.field("in", counters.input)
        w.field("accepted", counters.accepted)
        w.field("duplicate", counters.duplicate)
        w.field("rejected", counters.rejectedTotal)
        w.field("balanced", counters.balanced)
        w.field("billingEvents", billingEvents)
        w.field("lineageRows", lineageEvents)
        w.field("dedupIds", dedupIds)
        w.field("dedupBytes", dedupBytes)
        w.key("seconds"); w.raw(String(format: "%.6f", seconds))
        w.field("eventsPerSecond", Int(eventsPerSecond.rounded()))
        w.endObject()
        return w.text
    }
}

/// Runs the bench: generates the workload (not timed), then times the pipeline over it.
public enum Bench {
    public static func run(config: Configuration, options o: BenchOptions) -> BenchResult {
        precondition(o.events > 0 && o.shards >= 1 && o.partitions >= 1 && o.checkpointEvery > 0, "bench options out of range")
        var result = BenchResult(options: o)
        let clock = ContinuousClock()
        let g0 = clock.now
        // The workload in one buffer: each message's value, then its key; records in production order.
        var workload = Workload(events: o.events)
        workload.seed = o.seed
        workload.hours = o.hours
        workload.customersPerEntity = o.customersPerEntity
        var bytes: [UInt8] = []
        var messages: [(partition: Int32, offset: Int64, start: Int, count: Int, keyStart: Int, keyCount: Int)] = []
        messages.reserveCapacity(o.events)
        var nextOffset = [Int64](repeating: 0, count: o.partitions)
        workload.generate { m in
            var h = Hasher128()
            m.key.withUnsafeBytes { h.combine($0) }
            let p = Int(h.finalize().low % UInt64(o.partitions))
            let start = bytes.count
            bytes += m.value
            bytes += m.key
            messages.append((Int32(p), nextOffset[p], start, m.value.count, start + m.value.count, m.key.count))
            nextOffset[p] += 1
        }
        result.workloadBytes = bytes.count
        result.generateSeconds = seconds(clock.now - g0)
        // Processing time for the FUTURE_TIME check: the end of the workload's event time, so nothing is in the future.
        let now = workload.start + Int64(o.hours + 1) * UTC.microsPerHour
        bytes.withUnsafeBytes { all in
            if o.shards == 1 {
                // One pipeline on this thread, fed batches as a shard thread is.
                let pipeline = Pipeline(config: config)
                var records: [BatchRecord] = []
                records.reserveCapacity(2048)
                let t0 = clock.now
                var since = 0
                var first = 0
                while first < messages.count {
                    let end = min(first + 2048, messages.count)
                    let base = messages[first].start
                    records.removeAll(keepingCapacity: true)
                    for m in messages[first..<end] {
                        var r = BatchRecord(partition: m.partition, offset: m.offset, start: Int32(m.start - base), count: Int32(m.count))
                        r.keyStart = Int32(m.keyStart - base)
                        r.keyCount = Int32(m.keyCount)
                        records.append(r)
                    }
                    let last = messages[end - 1]
                    records.withUnsafeBufferPointer {
                        pipeline.process(batch: UnsafeRawBufferPointer(rebasing: all[base..<last.keyStart + last.keyCount]), records: $0, nowMicros: now)
                    }
                    since += end - first
                    if since >= o.checkpointEvery { result.add(pipeline.checkpoint()); since = 0 }
                    first = end
                }
                pipeline.finish()
                let stats = pipeline.dedupStats
                result.add(pipeline.checkpoint())
                result.seconds = seconds(clock.now - t0)
                result.counters = pipeline.counters
                (result.dedupIds, result.dedupBytes) = (stats.ids, stats.bytes)
            } else {
                let sharded = ShardedPipeline(shards: o.shards, routing: .partition) { Pipeline(config: config) }
                let t0 = clock.now
                for (i, m) in messages.enumerated() {
                    sharded.process(partition: m.partition, offset: m.offset, value: UnsafeRawBufferPointer(rebasing: all[m.start..<m.start + m.count]),
                                    key: UnsafeRawBufferPointer(rebasing: all[m.keyStart..<m.keyStart + m.keyCount]), nowMicros: now)
                    if (i + 1) % o.checkpointEvery == 0 { for c in sharded.checkpoint() { result.add(c) } }
                }
                let outs = sharded.finish()
                let stats = sharded.quiesce { shards in shards.reduce((ids: 0, bytes: 0)) { ($0.ids + $1.dedupStats.ids, $0.bytes + $1.dedupStats.bytes) } }
                for c in outs { result.add(c) }
                result.seconds = seconds(clock.now - t0)
                sharded.stop()  // counters are read after the shard threads stopped
                result.counters = sharded.counters
                (result.dedupIds, result.dedupBytes) = (stats.ids, stats.bytes)
            }
        }
        return result
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

extension BenchResult {
    mutating func add(_ c: CheckpointOutput) {
        billingEvents += c.billing.count
        lineageEvents += c.lineage.reduce(0) { $0 + $1.events.count }
    }
}
