import Benchmark
import Foundation
import MeterlineEngine
import MeterlineLineage

// LineageWriter in isolation (issue 6): 10M events with UUID ids, in 10 files of 1M events (a backfill
// checkpoint's size), keys shaped like the pipeline's rollup keys ("<subject>|<meter>|<dims>|<hour>").
// Run: `swift package --disable-sandbox benchmark --target Lineage` (or Benchmarks/lineage.sh).

extension BenchmarkMetric {
    static let nsPerEvent = BenchmarkMetric.custom("ns/event", polarity: .prefersSmaller, useScalingFactor: false)
    static let kEventsPerSecond = BenchmarkMetric.custom("Events/s (K)", polarity: .prefersLarger, useScalingFactor: false)
    static let bytesPerEventX100 = BenchmarkMetric.custom("Bytes/event (x100)", polarity: .prefersSmaller, useScalingFactor: false)
    static let openMs = BenchmarkMetric.custom("open (ms)", polarity: .prefersSmaller, useScalingFactor: false)
    static let queryMs = BenchmarkMetric.custom("journalLine (ms)", polarity: .prefersSmaller, useScalingFactor: false)
}

/// SplitMix64.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The workload's ids as bytes, built on first use (only the byte-level benchmark needs them).
final class LazyIds: @unchecked Sendable {
    lazy var bytes: [UInt8] = Workload.shared.idBytes
}

/// The workload: `files` chunks of `perFile` events; `keyOf[i]` indexes `keys`.
struct Workload {
    static let files = 10
    static let perFile = 1_000_000
    var keys: [String] = []
    var keyOf: [UInt32] = []
    var events: [LineageEvent] = []

    static let shared = Workload(seed: 6)

    init(seed: UInt64) {
        var g = SplitMix(state: seed)
        let subjects = (0..<1_000).map { ($0 & 1 == 0 ? "us-cust-" : "eu-cust-") + String($0) }
        let meters = ["tokens|model=small", "tokens|model=large", "api_calls|"]
        let t0: Int64 = 1_790_812_800_000_000 // 2026-10-01T00:00:00Z
        let hours = 24
        for h in 0..<hours {
            let hour = String(format: "2026-10-01T%02d:00:00Z", h)
            for s in subjects { for m in meters { keys.append(s + "|" + m + "|" + hour) } }
        }
        let n = Self.files * Self.perFile
        let spacing = Int64(hours) * 3_600_000_000 / Int64(n)
        keyOf.reserveCapacity(n)
        events.reserveCapacity(n)
        let hex = Array("0123456789abcdef".utf8)
        for i in 0..<n {
            let t = t0 + Int64(i) * spacing + Int64(g.next() % UInt64(spacing))
            let hour = Int((t - t0) / 3_600_000_000)
            let s = Int(g.next() % 1_000), m = Int(g.next() % 3)
            keyOf.append(UInt32((hour * subjects.count + s) * meters.count + m))
            let hi = g.next(), lo = g.next()
            let id = String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for j in 0..<32 {
                    if j == 8 || j == 12 || j == 16 || j == 20 { out[o] = 0x2D; o += 1 }
                    let word = j < 16 ? hi : lo
                    out[o] = hex[Int((word >> UInt64(60 - 4 * (j & 15))) & 0xF)]
                    o += 1
                }
                return o
            }
            let value: Int128 = m == 2 ? 1_000_000_000 : Int128(1 + g.next() % 2_000) * 1_000_000_000
            events.append(LineageEvent(id: id, source: "ev.jsonl", timeMicros: t, value: value, offset: Int64(i)))
        }
    }

    /// Appends file `f`'s events to a fresh writer, resolving each key once (`keyHandle(for:)`) and reserving the columns.
    func writerByHandle(_ f: Int) -> LineageWriter {
        var w = LineageWriter()
        w.reserveCapacity(events: Self.perFile)
        var handles = [LineageWriter.KeyHandle?](repeating: nil, count: keys.count)
        for i in (f * Self.perFile)..<((f + 1) * Self.perFile) {
            let k = Int(keyOf[i])
            let h: LineageWriter.KeyHandle
            if let known = handles[k] { h = known } else { h = w.keyHandle(for: keys[k]); handles[k] = h }
            w.append(h, event: events[i])
        }
        return w
    }

    /// The ids' UTF-8 back to back (36 bytes each), for the byte-level API.
    var idBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 36)
        for e in events { out += e.id.utf8 }
        return out
    }

    /// Appends file `f`'s events with the byte-level API the engine uses (`LineageFiles`): key and source handles
    /// resolved once, ids as UTF-8 bytes, no `String` per event.
    func writerByBytes(_ f: Int, ids: [UInt8]) -> LineageWriter {
        var w = LineageWriter()
        w.reserveCapacity(events: Self.perFile)
        let source = w.sourceHandle(for: "ev.jsonl")
        var handles = [LineageWriter.KeyHandle?](repeating: nil, count: keys.count)
        ids.withUnsafeBytes { all in
            for i in (f * Self.perFile)..<((f + 1) * Self.perFile) {
                let k = Int(keyOf[i])
                let h: LineageWriter.KeyHandle
                if let known = handles[k] { h = known } else { h = w.keyHandle(for: keys[k]); handles[k] = h }
                w.append(h, source: source, id: UnsafeRawBufferPointer(rebasing: all[(36 * i)..<(36 * i + 36)]),
                         timeMicros: events[i].timeMicros, value: events[i].value, offset: events[i].offset)
            }
        }
        return w
    }

    /// Appends file `f`'s events to a fresh writer by key string (what Backfill does today).
    func writerByKey(_ f: Int) -> LineageWriter {
        var w = LineageWriter()
        for i in (f * Self.perFile)..<((f + 1) * Self.perFile) { w.append(key: keys[Int(keyOf[i])], event: events[i]) }
        return w
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, .nsPerEvent, .kEventsPerSecond],
        maxDuration: .seconds(30),
        maxIterations: 3
    )
    let n = Workload.files * Workload.perFile

    func report(_ benchmark: Benchmark, _ elapsed: Duration) {
        let s = seconds(elapsed)
        benchmark.measurement(.nsPerEvent, Int((s * 1e9 / Double(n)).rounded()))
        benchmark.measurement(.kEventsPerSecond, Int(Double(n) / s / 1_000))
    }

    // MARK: append(key:) only: 10 writers × 1M events.
    Benchmark("Lineage_append_key_string_10M") { benchmark in
        let w = Workload.shared
        for _ in benchmark.scaledIterations {
            let clock = ContinuousClock()
            var events = 0
            benchmark.startMeasurement()
            let t0 = clock.now
            for f in 0..<Workload.files { let x = w.writerByKey(f); events += x.eventCount; blackHole(x) }
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(events == n)
            report(benchmark, elapsed)
        }
    }

    // MARK: append(_ handle:) with keys resolved once per writer, and reserved columns.
    Benchmark("Lineage_append_key_handle_10M") { benchmark in
        let w = Workload.shared
        for _ in benchmark.scaledIterations {
            let clock = ContinuousClock()
            var events = 0
            benchmark.startMeasurement()
            let t0 = clock.now
            for f in 0..<Workload.files { let x = w.writerByHandle(f); events += x.eventCount; blackHole(x) }
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(events == n)
            report(benchmark, elapsed)
        }
    }

    // MARK: encode only (the file image `write` stores), appends done outside the measurement.
    Benchmark("Lineage_encode_10M") { benchmark in
        let w = Workload.shared
        let writers = (0..<Workload.files).map { w.writerByKey($0) }
        for _ in benchmark.scaledIterations {
            let clock = ContinuousClock()
            var bytes = 0
            benchmark.startMeasurement()
            let t0 = clock.now
            for (f, x) in writers.enumerated() {
                bytes += try! x.encode(source: "ev.jsonl", firstOffset: Int64(f * Workload.perFile),
                                       lastOffset: Int64((f + 1) * Workload.perFile - 1)).count
            }
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            report(benchmark, elapsed)
            benchmark.measurement(.bytesPerEventX100, bytes * 100 / n)
        }
    }

    // MARK: one file of a backfill of many customers: 2M events over 200k keys (100k subjects × 2 meters, one hour),
    // keys registered in the order events bring them (random with respect to key order), 10 events per key. Its cost
    // is per key: ordering the keys, grouping each block by key, the footer's key texts.
    Benchmark("Lineage_encode_2M_events_200k_keys",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, .nsPerEvent, .bytesPerEventX100],
                                   maxDuration: .seconds(30), maxIterations: 5)) { benchmark in
        var g = SplitMix(state: 7)
        let subjects = 100_000, meters = ["tokens|model=small|2026-10-01T00:00:00Z", "api_calls||2026-10-01T00:00:00Z"]
        var w = LineageWriter()
        let events = 2_000_000
        w.reserveCapacity(events: events)
        let source = w.sourceHandle(for: "many.jsonl.zst")
        var handles = [LineageWriter.KeyHandle?](repeating: nil, count: subjects * meters.count)
        var id = [UInt8](repeating: 0, count: 16)
        for i in 0..<events {
            let k = Int(g.next() % UInt64(handles.count))
            let h: LineageWriter.KeyHandle
            if let known = handles[k] { h = known } else {
                h = w.keyHandle(for: ((k / 2) & 1 == 0 ? "us-cust-" : "eu-cust-") + String(k / 2) + "|" + meters[k & 1])
                handles[k] = h
            }
            for j in 0..<16 { id[j] = UInt8(truncatingIfNeeded: g.next() % 26) + 0x61 }
            id.withUnsafeBytes { w.append(h, source: source, id: $0, timeMicros: 1_790_812_800_000_000 + Int64(i), value: 1_000_000_000, offset: Int64(i)) }
        }
        for _ in benchmark.scaledIterations {
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let t0 = clock.now
            let bytes = try! w.encode(source: "many.jsonl.zst", firstOffset: 0, lastOffset: Int64(events - 1)).count
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            benchmark.measurement(.nsPerEvent, Int((seconds(elapsed) * 1e9 / Double(events)).rounded()))
            benchmark.measurement(.bytesPerEventX100, bytes * 100 / events)
        }
    }

    /// One "append + write" benchmark: `makeWriter(f)` fills file `f`'s writer, which is then written (temp file,
    /// fsync, rename) — the writer's whole cost per checkpoint file.
    func appendWriteBenchmark(_ name: String, _ makeWriter: @escaping (Int) -> LineageWriter) {
        Benchmark(name, configuration: .init(metrics: [.wallClock, .mallocCountTotal, .nsPerEvent, .kEventsPerSecond, .bytesPerEventX100])) { benchmark in
            let dir = NSTemporaryDirectory() + "meterline-lineage-bench-\(name)-\(getpid())"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            for _ in benchmark.scaledIterations {
                let clock = ContinuousClock()
                var bytes = 0
                benchmark.startMeasurement()
                let t0 = clock.now
                for f in 0..<Workload.files {
                    let x = makeWriter(f)
                    bytes += try! x.write(directory: dir, source: "ev.jsonl", firstOffset: Int64(f * Workload.perFile),
                                          lastOffset: Int64((f + 1) * Workload.perFile - 1)).bytes
                }
                let elapsed = clock.now - t0
                benchmark.stopMeasurement()
                report(benchmark, elapsed)
                benchmark.measurement(.bytesPerEventX100, bytes * 100 / n)
            }
        }
    }

    // The handle API (keys resolved once per key, `LineageEvent` with String ids).
    appendWriteBenchmark("Lineage_append_handle_write_10M") { Workload.shared.writerByHandle($0) }
    // The byte-level API the engine uses (LineageFiles): key and source handles, ids as bytes.
    let ids = LazyIds()
    appendWriteBenchmark("Lineage_append_bytes_write_10M") { Workload.shared.writerByBytes($0, ids: ids.bytes) }
    // append(key:) by key string.
    appendWriteBenchmark("Lineage_append_write_10M") { Workload.shared.writerByKey($0) }

    // MARK: `lineage show` in process: LineageQuery(directory:) + journalLine(_:), on a backfill output directory
    // (METERLINE_LINEAGE_DIR, METERLINE_LINEAGE_LINE; Benchmarks/lineage.sh sets them). Skipped when unset.
    let env = ProcessInfo.processInfo.environment
    if let dir = env["METERLINE_LINEAGE_DIR"], let line = env["METERLINE_LINEAGE_LINE"] {
        Benchmark("Lineage_show_journal_line",
                  configuration: .init(metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, .openMs, .queryMs],
                                       maxDuration: .seconds(20), maxIterations: 10)) { benchmark in
            for _ in benchmark.scaledIterations {
                let clock = ContinuousClock()
                benchmark.startMeasurement()
                let t0 = clock.now
                let q = try! LineageQuery(directory: dir)
                let t1 = clock.now
                let r = try! q.journalLine(line)
                let t2 = clock.now
                benchmark.stopMeasurement()
                blackHole(r.json().utf8.count)
                precondition(r.reconciles)
                benchmark.measurement(.openMs, Int((seconds(t1 - t0) * 1_000).rounded()))
                benchmark.measurement(.queryMs, Int((seconds(t2 - t1) * 1_000).rounded()))
            }
        }
    }
}
