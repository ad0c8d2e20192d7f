import Foundation
import MeterlineLineage
import MeterlinePipeline

/// Turns a checkpoint's lineage columns into lineage files: one file per input source and checkpoint.
///
/// Invariant: the file of a source depends only on its events, each key's in offset order (readings of one event
/// in reading order), not on how many shards held them. A file's bytes depend on its keys and on each key's
/// events in order, not on how keys interleave, so parts are appended one after another when every key lies in
/// one part (a key is one subject's window, and a subject lives in one shard); otherwise they are merged by offset.
struct LineageFiles {
    /// Reused between files (its arrays keep their capacity).
    var writer = LineageWriter()

    /// Writes the events of `parts` (each in offset order; one event's readings are in one part) for `source` as one file.
    mutating func write(_ parts: [LineageColumns], source: String, directory: String) throws -> (fileName: String, bytes: Int) {
        writer.reset()
        let total = parts.reduce(0) { $0 + $1.count }
        precondition(total > 0, "a lineage file has at least one event")
        writer.reserveCapacity(events: total)
        // Keys registered from the parts' key bytes, read in order.
        let keyHandles = parts.map { p in
            p.keyBytes.withUnsafeBytes { b in
                (0..<p.keyCount).map { writer.keyHandle(utf8: UnsafeRawBufferPointer(rebasing: b[p.keyStart($0)..<Int(p.keyEnds[$0])])) }
            }
        }
        let sourceHandles = parts.map { p in p.sources.map { writer.sourceHandle(for: $0) } }
        var first = Int64.max, last = Int64.min
        // Does a key lie in more than one part?
        var partOfKey = [Int](repeating: -1, count: keyHandles.reduce(0) { max($0, ($1.map(\.index).max() ?? -1) + 1) })
        var shared = false
        for (p, handles) in keyHandles.enumerated() {
            for h in handles where partOfKey[h.index] != p {
                if partOfKey[h.index] >= 0 { shared = true }
                partOfKey[h.index] = p
            }
        }
        /// Appends row `i` of part `p`.
        func append(_ p: Int, _ i: Int, _ rows: UnsafeBufferPointer<LineageRow>, _ ids: UnsafeRawBufferPointer,
                    _ keys: UnsafeBufferPointer<LineageWriter.KeyHandle>, _ sources: UnsafeBufferPointer<LineageWriter.SourceHandle>) {
            let row = rows[i]
            let idStart = i == 0 ? 0 : Int(rows[i - 1].idEnd)
            writer.append(keys[Int(row.key)], source: sources[Int(row.source)], id: UnsafeRawBufferPointer(rebasing: ids[idStart..<Int(row.idEnd)]),
                          timeMicros: row.timeMicros, value: row.value, offset: row.offset)
            first = min(first, row.offset)
            last = max(last, row.offset)
        }
        if !shared {
            // Part after part, each read through its buffers once (no search for the lowest offset per event).
            for p in parts.indices {
                parts[p].rows.withUnsafeBufferPointer { rows in
                    parts[p].idBytes.withUnsafeBytes { ids in
                        keyHandles[p].withUnsafeBufferPointer { keys in
                            sourceHandles[p].withUnsafeBufferPointer { sources in
                                for i in rows.indices { append(p, i, rows, ids, keys, sources) }
                            }
                        }
                    }
                }
            }
        } else {
            var next = [Int](repeating: 0, count: parts.count)
            for _ in 0..<total {
                // The part whose next event has the lowest offset (parts are few: one per shard).
                var best = -1
                var bestOffset = Int64.max
                for p in parts.indices where next[p] < parts[p].rows.count && parts[p].rows[next[p]].offset < bestOffset {
                    best = p
                    bestOffset = parts[p].rows[next[p]].offset
                }
                let i = next[best]
                next[best] = i + 1
                parts[best].rows.withUnsafeBufferPointer { rows in
                    parts[best].idBytes.withUnsafeBytes { ids in
                        keyHandles[best].withUnsafeBufferPointer { keys in
                            sourceHandles[best].withUnsafeBufferPointer { sources in append(best, i, rows, ids, keys, sources) }
                        }
                    }
                }
            }
        }
        return try writer.write(directory: directory, source: source, firstOffset: first, lastOffset: last)
    }
}

/// Writes lineage files on a thread of its own, so the input reader and the shards go on while a checkpoint's
/// files are encoded and compressed. Jobs are written in submission order; a bounded ring (2 jobs) is the
/// back-pressure that keeps at most two checkpoints of lineage in memory.
///
/// Why `@unchecked Sendable`: `files`, `positions` and `failure` are written only by the writer thread
/// and read by the owner only after `finish()`, which waits for the thread's last answer on `done` (the rings'
/// acquire/release ordering orders those accesses).
final class BackgroundLineageWriter: @unchecked Sendable {
    /// One checkpoint: per source, the shards' columns.
    typealias Job = [(source: String, parts: [LineageColumns])]
    let directory: String
    let jobs = SPSCRing<Job?>(capacity: 2)
    let done = SPSCRing<Bool>(capacity: 1)
    private(set) var files = 0
    /// The input offsets of the lineage events, by source, when asked for (`--previous` state changes).
    private var positions: [String: OffsetSet.Builder]?
    /// The input offsets of the lineage events, by source, when asked for; read after `finish()`.
    var acceptedPositions: [String: OffsetSet]? { positions?.mapValues { $0.build() } }
    private(set) var failure: Error?
    private var started = false
    /// Where written columns go back to, emptied, for the shards to fill again (nil: they are freed).
    let recycling: LineageColumnsPool?

    /// The scheduler slice the writer's thread asks for (`ThreadTimeSlice`; nil: the kernel's default).
    let timeSlice: UInt64?

    init(directory: String, collectPositions: Bool, recycling: LineageColumnsPool? = nil, timeSlice: UInt64? = nil) {
        self.directory = directory
        self.timeSlice = timeSlice
        positions = collectPositions ? [:] : nil
        self.recycling = recycling
    }

    func submit(_ job: Job) {
        guard !job.isEmpty else { return }
        if !started {
            started = true
            let t = Thread { [self] in
                if let timeSlice { ThreadTimeSlice.request(timeSlice) }
                self.loop()
            }
            t.name = "meterline-lineage"
            t.start()
        }
        jobs.push(job)
    }

    /// Waits for every submitted job; rethrows the first write error.
    func finish() throws {
        if started {
            jobs.push(nil)
            _ = done.pop()
            started = false
        }
        if let failure { throw failure }
    }

    private func loop() {
        var writer = LineageFiles()
        while let job = jobs.pop() {
            guard failure == nil else { continue }
            do {
                for (source, parts) in job {
                    _ = try writer.write(parts, source: source, directory: directory)
                    if positions != nil {
                        for p in parts { positions![source, default: OffsetSet.Builder()].insert(contentsOf: p.offsets) }
                    }
                    files += 1
                }
            } catch {
                failure = error
            }
            if let recycling {
                // Taken out of the job first, so that each is the only copy when it is emptied.
                var parts = job.flatMap(\.parts)
                _ = consume job
                while let p = parts.popLast() { recycling.give(p) }
            }
        }
        done.push(true)
    }
}

/// Runs one throwing job on a thread of its own; `wait()` returns its value when it is done, or rethrows its error.
///
/// Why `@unchecked Sendable`: `result` is written by the job's thread before it answers on `done`, and read by the
/// owner only after `wait()` has taken that answer (the ring's acquire/release ordering orders the two).
final class BackgroundTask<Value: Sendable>: @unchecked Sendable {
    private let done = SPSCRing<Bool>(capacity: 1)
    private var result: Result<Value, Error>?
    private var waited = false

    init(_ job: @escaping @Sendable () throws -> Value) {
        let t = Thread { [self] in
            result = Result { try job() }
            done.push(true)
        }
        t.name = "meterline-task"
        t.start()
    }

    /// Waits for the job (once; later calls return at once) and returns its value or rethrows its error.
    @discardableResult
    func wait() throws -> Value {
        if !waited {
            _ = done.pop()
            waited = true
        }
        return try result!.get()
    }
}
