import Dispatch
import Foundation
import MeterlineCore
import MeterlineKafka
import MeterlineLedger
import MeterlineLineage
import MeterlinePipeline

/// A backfill failed before producing a complete output directory; the message is one line.
public struct BackfillError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `meterline backfill`: re-rates a closed event-time range [from, to) from JSONL / JSONL.zst files or a
/// Kafka topic, with the same pipeline, ledger and lineage code as the streaming engine.
///
/// A backfill knows every event of the range, so lateness is moot: windows close at end of input, which
/// makes the outputs independent of input order across files, of `shards` and of checkpoint cadence.
/// Periods ending by `to` are closed (true-ups). Outputs are staged in `<out>.partial` and renamed at the end.
public struct Backfill {
    public var config: Configuration
    public var from: Int64
    public var to: Int64
    public var inputs: [String] = []
    /// Alternative input: a topic read from the offsets for `from` to the end offsets at start.
    public var topic: String? = nil
    public var kafka: [String: String] = [:]
    public var out: String
    public var previous: String? = nil
    public var shards = 1
    /// The scheduler slice every busy thread of the run asks for, nanoseconds (`ThreadTimeSlice`; nil: the
    /// kernel's default). Outputs do not depend on it.
    public var timeSlice: UInt64? = Backfill.defaultTimeSlice
    /// The longest slice Linux grants: on the 20M-event backfill, −11 % CPU and wall against the kernel's 1.4 ms (8 of
    /// 8 rotated runs), and −4.5 % against 20 ms (6 of 10) (BENCHMARKS.md, 2026-12-07 ninth).
    public static let defaultTimeSlice: UInt64 = ThreadTimeSlice.longest
    /// Lineage is flushed every this many input lines (one lineage file per source per flush).
    public var checkpointLines = 500_000
    /// Bytes of decompressed input per chunk the shards read in place (a few batches per shard per chunk); a line
    /// longer than a chunk gets a larger one. Outputs do not depend on it.
    public var chunkBytes = 4 << 20
    /// The longest input line read (a longer one is an error naming its file and line, not a crash): the most a
    /// batch holds.
    public var maxLineBytes = MessageBatch.maxBytes
    public var progress: Progress? = nil
    /// Processing time for FUTURE_TIME; default: the wall clock.
    public var now: Int64 = wallClockMicros()

    public init(config: Configuration, from: Int64, to: Int64, out: String) {
        self.config = config
        self.from = from
        self.to = to
        self.out = out
    }

    public func run() throws -> BackfillReport {
        let started = Date()
        guard to > from else { throw BackfillError("--to \(RFC3339.format(micros: to)) is not after --from \(RFC3339.format(micros: from))") }
        guard shards >= 1 && shards <= 256 else { throw BackfillError("--shards must be in 1...256") }
        guard inputs.isEmpty != (topic == nil) else { throw BackfillError("give either --input files or --topic") }
        if let p = previous {
            guard standardized(p) != standardized(out) else { throw BackfillError("--previous must not be the --out directory") }
            guard FileManager.default.fileExists(atPath: p + "/billing-events.jsonl") else { throw BackfillError("--previous \(p): no billing-events.jsonl there") }
        }
        var settings = config.settings
        settings.allowedLatenessMicros = Int64.max / 4
        var cfg = config
        cfg.settings = settings

        // The previous run's billing events and lineage positions are read on a thread of their own while this
        // run reads its input (they were ~3 s of the serial end of a 2M-event `--previous` backfill).
        let diffConfig = cfg, diffFrom = from, diffTo = to
        let previousRun = previous.map { p in
            BackgroundTask { try BackfillDiff(previousDirectory: p, config: diffConfig, from: diffFrom, to: diffTo) }
        }
        defer { _ = try? previousRun?.wait() }

        var report = BackfillReport(from: from, to: to)
        report.shards = shards
        let staging = out + ".partial"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging + "/lineage", withIntermediateDirectories: true)

        // Every busy thread (this one, the shards, the lineage writer) asks for a longer scheduler slice
        // (`timeSlice`): there are more of them than cores, and each turn the kernel gives another thread costs the
        // next one its caches.
        report.threadTimeSlice = timeSlice.flatMap { ThreadTimeSlice.request($0) }
        defer { if report.threadTimeSlice != nil { ThreadTimeSlice.request(0) } }
        // One thread per shard, fed batches through lock-free rings; this thread reads and routes.
        // Optional so its state (dedup tables, windows) is freed before the outputs are written (peak memory).
        // Rings of 32 batches (~15 MB of input lines per shard, read in place from the chunks): with 8, the reader
        // stopped on one shard's full ring while the other shard ran dry, a core stood idle ~6 % of the run and
        // threads parked and woke twice as often; 64 was no faster than 32 and kept more cold chunk memory in
        // flight (BENCHMARKS.md, 2026-12-07 sixth).
        var shardedOrNil: ShardedPipeline? = ShardedPipeline(shards: shards, routing: .subject, ringCapacity: 32,
                                                             timeSlice: timeSlice) {
            Pipeline(config: cfg, sourcePrefix: self.topic ?? "input")
        }
        defer { shardedOrNil?.stop() }
        func sharded() -> ShardedPipeline { shardedOrNil! }
        let fileNames = topic == nil ? Backfill.sourceNames(inputs) : []
        // The lineage thread gives each checkpoint's columns back, emptied, for the shards to fill again.
        let lineagePool = LineageColumnsPool(limit: 2 * shards)
        sharded().configure { p in
            p.acceptRange = from..<to
            p.handsOverBilling = true
            p.lineagePool = lineagePool
            for (i, n) in fileNames.enumerated() { p.sourceNames[Int32(i)] = n }
        }
        // Each checkpoint's billing events, one handover per shard, as the shards gave them (joined at the end).
        var billingParts: [BillingHandover] = []
        var dlq: [DLQRecord] = []
        // Lineage files are written by their own thread while reading goes on.
        let lineage = BackgroundLineageWriter(directory: staging + "/lineage", collectPositions: previous != nil,
                                              recycling: lineagePool, timeSlice: timeSlice)
        defer { try? lineage.finish() } // on an early error too: the writer thread ends
        // A checkpoint's barrier is sent without waiting for the shards (`beginCheckpoint`); its outputs are taken
        // at the next checkpoint, by when the shards are long past it, so reading never waits for them.
        func checkpoint(finishingBy: Int64?? = nil) throws {
            if let finishingBy {
                if sharded().pendingCheckpoints > 0 { take(sharded().collectCheckpoint()) }
                take(sharded().finish(closePeriodsEndingBy: finishingBy))
            } else {
                sharded().beginCheckpoint()
                if sharded().pendingCheckpoints > 1 { take(sharded().collectCheckpoint()) }
            }
        }
        // `consuming`, so that once `outputs` is emptied below the lineage job holds the only copies of the columns.
        func take(_ outputs: consuming [CheckpointOutput]) {
            var bySource: [String: [LineageColumns]] = [:]
            for i in outputs.indices {
                // The shards' buffers themselves (`Pipeline.handsOverBilling`): each event is moved once, into the
                // joined array at the end.
                if let part = outputs[i].billingHandover { billingParts.append(part) }
                outputs[i].billingHandover = nil
                dlq += outputs[i].dlq
                for l in outputs[i].lineage { bySource[l.source, default: []].append(l.events) }
            }
            // The job holds the only copies of the columns, so that the lineage thread can reuse their buffers.
            outputs = []
            lineage.submit(bySource.sorted(by: { $0.key < $1.key }).map { (source: $0.key, parts: $0.value) })
        }

        @inline(__always) func route(_ line: UnsafeRawBufferPointer, partition: Int32, offset: Int64) {
            sharded().process(partition: partition, offset: offset, value: line, nowMicros: now)
        }

        var sinceCheckpoint = 0
        if let topic {
            let (read, bytes) = try readTopic(topic, sinceCheckpoint: &sinceCheckpoint, route: route, checkpoint: { try checkpoint() })
            report.linesRead = read
            report.bytesRead = bytes
            report.inputs = [topic]
        } else {
            var readers: [ChunkedFileReader] = []
            do { for path in inputs { readers.append(try ChunkedFileReader(path: path)) } } catch { throw BackfillError("\(error)") }
            // Each shard's dedup table for a file starts at the size the file's share of ids needs (growing it
            // from empty, rehash and fresh pages, was ~10 % of a 20M-event backfill's CPU), with a tenth of
            // headroom: the estimate is the compression ratio of the file's first whole zstd blocks (1.025× the real
            // count on the benchmark's 20M-event file: its start has the least history to match, so it reads a little
            // long), and an estimate short by one id doubles the table near the end (a rehash and twice its memory
            // at the peak), while one long by a tenth costs a tenth of the table. (When the streaming decoder counted
            // input it had buffered but not decoded, the estimate read 0.82× and the headroom was a quarter.)
            var expected: [Int32: Int] = [:]
            do {
                for (i, r) in readers.enumerated() {
                    let lines = try r.estimatedLines()
                    expected[Int32(i)] = (lines + lines / 10) / max(1, shards)
                }
            } catch { throw BackfillError("\(error)") }
            sharded().configure { p in p.expectedIds = expected }
            let totalBytes = readers.reduce(0) { $0 + $1.fileSize }
            let progress = self.progress ?? Progress(totalBytes: totalBytes)
            var bytesBefore = 0
            // Input is decompressed into chunks that the shards read in place (no copy of each line into a
            // batch); a chunk is refilled once every batch holding its lines was processed (`isFree`).
            var pool: [SharedChunk] = []
            func freeChunk(capacity: Int, besides current: SharedChunk?) -> SharedChunk {
                if let c = pool.first(where: { $0 !== current && $0.storage.count >= capacity && $0.isFree }) { return c }
                let c = SharedChunk(capacity: capacity)
                pool.append(c)
                return c
            }
            for (index, reader) in readers.enumerated() {
                let partition = Int32(index)
                var lineNumber: Int64 = 0
                let pipeline = sharded()
                var current: SharedChunk? = nil
                // The incomplete last line of `current`: carried to the start of the next chunk.
                var carryStart = 0, carryCount = 0
                do {
                    while true {
                        guard carryCount <= maxLineBytes else {
                            throw BackfillError("\(reader.path): line \(lineNumber + 1) is longer than \(maxLineBytes) bytes")
                        }
                        // A line longer than a chunk gets a chunk twice its size; a chunk always has room for the
                        // zstd window and block that `fillInPlace` decodes straight into (it reads back into
                        // `current`, the chunk before, which is not refilled here).
                        let capacity = min(max(carryCount * 2, chunkBytes, carryCount + (try reader.directFillBytes())), Int(Int32.max))
                        let chunk = freeChunk(capacity: capacity, besides: current)
                        if let c = current, carryCount > 0 {
                            chunk.storage.baseAddress!.copyMemory(from: c.storage.baseAddress! + carryStart, byteCount: carryCount)
                        }
                        let n = try reader.fillInPlace(UnsafeMutableRawBufferPointer(rebasing: chunk.storage[carryCount...]))
                        chunk.count = carryCount + n
                        if n == 0 {
                            // End of the file: a last line without its newline is still a message.
                            if carryCount > 0 {
                                route(chunk.bytes, partition: partition, offset: lineNumber)
                                report.linesRead += 1
                            }
                            break
                        }
                        current = chunk
                        // Lines are routed a chunk at a time (`routeLines`), up to the next checkpoint's line.
                        var start = 0
                        while start < chunk.count {
                            let r = pipeline.routeLines(in: chunk, from: start, partition: partition, firstOffset: lineNumber,
                                                        maxLines: max(1, checkpointLines - sinceCheckpoint), nowMicros: now)
                            guard r.lines > 0 else { break }  // no newline in the rest
                            start += r.bytes
                            lineNumber += Int64(r.lines)
                            sinceCheckpoint += r.lines
                            report.linesRead += r.messages
                            if sinceCheckpoint >= checkpointLines { try checkpoint(); sinceCheckpoint = 0 }
                        }
                        carryStart = start
                        carryCount = chunk.count - start
                        progress.update(bytes: bytesBefore + reader.bytesRead, events: report.linesRead)
                    }
                } catch let e as StreamError {
                    throw BackfillError("\(e)")
                }
                bytesBefore += reader.bytesRead
            }
            progress.finish(bytes: bytesBefore, events: report.linesRead)
            report.bytesRead = bytesBefore
            report.inputs = inputs
        }
        guard report.linesRead > 0 else { throw BackfillError("no events in the input") }
        try checkpoint(finishingBy: .some(to))
        // No checkpoint takes columns any more: the lineage thread frees what it writes from here on.
        lineagePool.close()
        sharded().stop()
        // The lineage thread writes the last checkpoints' files while the billing file and the journal are made
        // (it is waited for before the report): with many windows per checkpoint its tail was a second or more of
        // one busy core after the shards stopped.
        report.counters = sharded().counters
        // The shards' state (dedup tables, windows: ~1 GB for 20M events) is freed on a thread of its own: unmapping
        // it and releasing the windows' strings was ~0.05 s of the serial end, with the other core idle.
        Backfill.freeInBackground(Unshared(value: shardedOrNil.take()!))
        guard report.counters.balanced else {
            throw BackfillError("conservation does not hold: in \(report.counters.input) ≠ accepted \(report.counters.accepted) + duplicate \(report.counters.duplicate) + rejected \(report.counters.rejectedTotal)")
        }
        guard report.counters.input > 0 else {
            throw BackfillError("no events in [\(RFC3339.format(micros: from)), \(RFC3339.format(micros: to))): \(report.counters.outOfRange) read events lie outside")
        }

        // The shards' buffers are joined by moving their events (see `joined`), and the emptied buffers are freed in
        // the background.
        var billing = Backfill.joined(billingParts)
        let parts = billingParts
        billingParts = []
        Backfill.freeInBackground(parts)
        // Billing events stay in the shards' order: the file is written in output order (`BillingRecords.write` sorts
        // small index rows on its own thread), and the journal and the report's totals do not depend on the order
        // (the journal sorts each posting interval's events by id). Moving the events themselves into output order
        // was ~0.15 s of the serial end (random 400-byte swaps) for a 20M-event backfill. Only the comparison with
        // `--previous` keys the events by window, so it gets them in output order (a window's last event wins there).
        if previous != nil { BillingRecords.sortInOutputOrder(&billing) }
        dlq.sort { ($0.source, $0.offset) < ($1.source, $1.offset) }
        // billing-events.jsonl is encoded and written on its own thread while the journal is computed (both only read it).
        let periodDir = previous == nil ? staging : staging + "/period"
        try FileManager.default.createDirectory(atPath: periodDir, withIntermediateDirectories: true)
        let finalBilling = billing
        let billingFile = BackgroundTask { try BillingRecords.write(finalBilling, to: periodDir + "/billing-events.jsonl", encoders: 2) }
        defer { _ = try? billingFile.wait() }
        let (journal, unbalanced) = Backfill.postJournal(billing, configuration: cfg)
        guard unbalanced.isEmpty else { throw BackfillError("\(unbalanced.count) journal entries do not balance: \(unbalanced[0])") }
        // Summed by (entity, currency, period start) first: the report's "entity|currency|YYYY-MM" key is formatted
        // once per period, not once per billing event. Billing events mostly share one of a few such keys: the first
        // four sums are compared directly and only other keys are looked up by hash (hashing three fields per
        // billing event into a dictionary was ~0.1 s of the serial end for 400k of them).
        struct PeriodKey: Hashable { var entity: String; var currency: String; var periodStart: Int64 }
        var sums: [(key: PeriodKey, sum: Amount)] = []
        var sumIndex: [PeriodKey: Int] = [:]
        func overflow(_ k: String) -> BackfillError { BackfillError("the report's total for \(k) overflows the amount range") }
        // Read in place: `for e in billing` would copy each event (retaining its strings and arrays).
        try billing.withUnsafeBufferPointer { ev in
            for i in ev.indices {
                func matches(_ j: Int) -> Bool {
                    sums[j].key.periodStart == ev[i].periodStart && sums[j].key.entity == ev[i].entity
                        && sums[j].key.currency == ev[i].currency.code
                }
                let j: Int
                if let near = sums.indices.prefix(4).first(where: matches) { j = near } else {
                    let k = PeriodKey(entity: ev[i].entity, currency: ev[i].currency.code, periodStart: ev[i].periodStart)
                    if let known = sumIndex[k] { j = known } else {
                        j = sums.count
                        sums.append((k, .zero))
                        sumIndex[k] = j
                    }
                }
                guard let sum = try? sums[j].sum.adding(ev[i].postedAmount) else { throw overflow("\(ev[i].entity)|\(ev[i].currency.code)") }
                sums[j].sum = sum
            }
        }
        for (p, sum) in sums {
            let k = "\(p.entity)|\(p.currency)|\(String(RFC3339.format(micros: p.periodStart).prefix(7)))"
            guard let total = try? (report.totals[k] ?? .zero).adding(sum) else { throw overflow(k) }
            report.totals[k] = total
        }

        try writeJournal(journal, to: periodDir + "/journal-entries.jsonl")
        try billingFile.wait()
        try writeLines(dlq.map { $0.json() }, to: staging + "/dlq.jsonl")
        try lineage.finish()
        report.billingEvents = billing.count
        report.journalEntries = journal.count
        report.dlqRecords = dlq.count
        report.lineageFiles = lineage.files

        if let previous {
            let diff = try previousRun!.wait()
            let result = try diff.compare(new: billing, newDLQ: dlq, acceptedPositions: lineage.acceptedPositions ?? [:])
            try BillingRecords.write(result.events, to: staging + "/billing-events.jsonl")
            try writeJournal(result.journal, to: staging + "/journal-entries.jsonl")
            report.previous = previous
            report.changes = result.changes
            report.unchangedBillingEvents = result.unchanged
            report.stateChanges = result.stateChanges
            report.billingEvents = result.events.count
            report.journalEntries = result.journal.count
        }
        // Freeing the period's billing events, journal and DLQ records (millions of small objects) took ~0.3 s of a
        // 20M-event backfill's serial end: a thread of its own frees them while this one writes the report.
        // (`dlq` is captured by the checkpoint closure, so it is emptied rather than consumed.)
        let periodDLQ = dlq
        dlq = []
        Backfill.freeInBackground((consume billing, consume finalBilling, consume journal, consume periodDLQ))
        report.seconds = Date().timeIntervalSince(started)
        try writeLines([report.json()], to: staging + "/report.json")
        // Every file is on the device (line files and lineage files are synced when written); the directories'
        // entries go too, before and after the rename, so after a crash `out` is either absent, the previous
        // output, or complete.
        if previous != nil { DirectFileWriter.syncDirectory(staging + "/period") }
        DirectFileWriter.syncDirectory(staging)
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.moveItem(atPath: staging, toPath: out)
        let parent = (out as NSString).deletingLastPathComponent
        DirectFileWriter.syncDirectory(parent.isEmpty ? "." : parent)
        return report
    }

    /// A value handed to one other thread, which alone uses it from then on (a pipeline to free, a buffer whose
    /// disjoint parts threads fill).
    struct Unshared<T>: @unchecked Sendable { let value: T }

    /// Drops `value` on a thread of its own: the caller goes on without waiting for it to be freed.
    static func freeInBackground<T: Sendable>(_ value: consuming T) {
        let t = Thread { [value] in withExtendedLifetime(value) {} }
        t.name = "meterline-free"
        t.start()
    }

    /// The events of `parts`, in part order, as one array: each part is copied into its place by a thread of its own.
    /// The period's journal, as one `JournalBook.finish(adding:)` gives it: the legal entities' billing events are
    /// posted by two books at once, each entity's in one of them (entities share no cumulative position, line or
    /// entry), the entities split so the two hold about as many events; the entries are merged in emission order.
    /// With one entity, one book posts everything. Posting was the longest step of a backfill's end with many
    /// customers, on one core.
    static func postJournal(_ billing: [BillingEvent], configuration cfg: Configuration) -> (entries: [JournalEntry], unbalanced: [UnbalancedEntry]) {
        // Each event's entity number; consecutive events mostly share an entity, so its name is compared first.
        var entityNumbers: [String: Int] = [:]
        var names: [String] = [], counts: [Int] = []
        var entityOf = [Int32](repeating: 0, count: billing.count)
        billing.withUnsafeBufferPointer { ev in
            var last = -1
            for i in ev.indices {
                if last < 0 || names[last] != ev[i].entity {
                    if let n = entityNumbers[ev[i].entity] { last = n } else {
                        last = names.count
                        entityNumbers[ev[i].entity] = last
                        names.append(ev[i].entity)
                        counts.append(0)
                    }
                }
                counts[last] += 1
                entityOf[i] = Int32(last)
            }
        }
        guard names.count > 1 else {
            var book = JournalBook(configuration: cfg)
            let entries = book.finish(adding: billing)
            return (entries, book.unbalanced)
        }
        // Largest entities first, each to the book with fewer events so far (ties: by name, so the split is fixed).
        var side = [Int](repeating: 0, count: names.count)
        var load = [0, 0]
        for n in names.indices.sorted(by: { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : names[$0] < names[$1] }) {
            side[n] = load[0] <= load[1] ? 0 : 1
            load[side[n]] += counts[n]
        }
        var members: [[Int]] = [[], []]
        members[0].reserveCapacity(load[0])
        members[1].reserveCapacity(load[1])
        for i in billing.indices { members[side[Int(entityOf[i])]].append(i) }
        let split = members
        let results = JournalResults()
        billing.withUnsafeBufferPointer { ev in
            let events = UnsafeBilling(base: ev)
            DispatchQueue.concurrentPerform(iterations: 2) { b in
                var book = JournalBook(configuration: cfg)
                let entries = book.finish(adding: events.base, members: split[b])
                results.set(b, entries, book.unbalanced)
            }
        }
        // Each book's entries are in emission order already: a merge keeps it.
        var entries: [JournalEntry] = []
        entries.reserveCapacity(results.entries[0].count + results.entries[1].count)
        var a = 0, b = 0
        let x = results.entries[0], y = results.entries[1]
        while a < x.count || b < y.count {
            if b == y.count || (a < x.count && !JournalBook.emissionOrder(y[b], x[a])) { entries.append(x[a]); a += 1 } else { entries.append(y[b]); b += 1 }
        }
        return (entries, results.unbalanced[0] + results.unbalanced[1])
    }

    /// Moves the handed-over events into one array, in part order: each event once, from the buffer the shard
    /// filled (a copy retained every string and array of every event, cold heap objects by then, and freeing the
    /// parts released them all again: ~4 % of the CPU of a backfill of 100k customers).
    static func joined(_ parts: [BillingHandover]) -> [BillingEvent] {
        let total = parts.reduce(0) { $0 + $1.count }
        return [BillingEvent](unsafeUninitializedCapacity: total) { buffer, count in
            var at = 0
            for p in parts { at += p.moveAll(to: buffer.baseAddress! + at) }
            precondition(at == total, "handovers changed while joined")
            count = total
        }
    }

    func standardized(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

    /// Unique lineage/DLQ source names for input files: the file name, prefixed by its index when names repeat.
    static func sourceNames(_ paths: [String]) -> [String] {
        let names = paths.map { URL(fileURLWithPath: $0).lastPathComponent }
        return names.enumerated().map { i, n in names.filter { $0 == n }.count > 1 ? "\(i)-\(n)" : n }
    }

    /// Reads a topic from the offsets for `from` up to the end offsets seen at start.
    func readTopic(_ topic: String, sinceCheckpoint: inout Int,
                   route: (UnsafeRawBufferPointer, Int32, Int64) -> Void, checkpoint: () throws -> Void) throws -> (Int, Int) {
        var cfg = kafka
        cfg["enable.partition.eof"] = "true"
        cfg["fetch.wait.max.ms"] = cfg["fetch.wait.max.ms"] ?? "10"
        let consumer = try KafkaConsumer(config: cfg)
        defer { _ = consumer.close(timeoutMs: 5_000) }
        let starts = try consumer.offsetsForTimes(topic: topic, timestampMs: from / 1000, timeoutMs: 30_000)
        var ends: [Int32: Int64] = [:]
        var assign: [TopicPartitionOffset] = []
        var expected: Int64 = 0
        for s in starts {
            let (_, high) = try consumer.watermarks(topic: topic, partition: s.partition, timeoutMs: 10_000)
            if s.offset < high { ends[s.partition] = high; assign.append(s); expected += high - s.offset }
        }
        guard expected > 0 else { return (0, 0) }
        try consumer.assign(assign)
        var read: Int64 = 0
        var bytes = 0
        let deadline = wallClockMicros() + 600_000_000
        let progress = self.progress ?? Progress(totalBytes: Int(expected))
        var local = sinceCheckpoint
        while read < expected {
            guard wallClockMicros() < deadline else { throw BackfillError("reading \(topic): \(read) of \(expected) records after 10 minutes") }
            _ = try consumer.poll(max: 10_000, timeoutMs: 100) { m in
                guard let end = ends[m.partition], m.offset < end else { return }
                route(m.value, m.partition, m.offset)
                read += 1
                bytes += m.value.count
                local += 1
            }
            if local >= checkpointLines { try checkpoint(); local = 0 }
            progress.update(bytes: Int(read), events: Int(read))
        }
        progress.finish(bytes: Int(read), events: Int(read))
        sinceCheckpoint = local
        return (Int(read), bytes)
    }
}

/// The two books' results in `Backfill.postJournal`: each `concurrentPerform` iteration sets only its own.
private final class JournalResults: @unchecked Sendable {
    var entries: [[JournalEntry]] = [[], []]
    var unbalanced: [[UnbalancedEntry]] = [[], []]
    private let lock = NSLock()
    func set(_ b: Int, _ e: [JournalEntry], _ u: [UnbalancedEntry]) {
        lock.lock(); defer { lock.unlock() }
        entries[b] = e
        unbalanced[b] = u
    }
}

/// The billing events the books of `Backfill.postJournal` read (read only while they run).
private struct UnsafeBilling: @unchecked Sendable { let base: UnsafeBufferPointer<BillingEvent> }
