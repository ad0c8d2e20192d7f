import Foundation
import Glibc
import MeterlineCore

/// What travels on a shard's input ring.
enum ShardMessage {
    case batch(MessageBatch)
    /// A checkpoint barrier: the shard takes its outputs and answers on its result ring.
    case barrier
    /// End of input: close windows (and periods ending by the instant), then answer like a barrier.
    case finish(closePeriodsEndingBy: Int64?)
    /// Answer `synced` and wait: the router may then work on the shard's pipeline until it pushes the next message.
    case sync
    case stop
}

/// What a shard answers on its result ring.
enum ShardReply {
    case output(CheckpointOutput)
    case synced
    case stopped
}

/// One shard: a pipeline confined to its own thread.
///
/// Why `@unchecked Sendable`: `pipeline` is touched by the shard's thread between `start()` and the `stop` message,
/// and by the router only while the shard is parked: before `start()`, after the shard answered `stop`, or after it
/// answered `sync` and before the router's next push. The rings' acquire/release ordering orders those accesses.
final class ShardWorker: @unchecked Sendable {
    let pipeline: Pipeline
    let input: SPSCRing<ShardMessage>
    let output: SPSCRing<ShardReply>
    /// Emptied batches going back to the router for reuse (the shard produces, the router consumes), so batch
    /// buffers are allocated once, not per batch (a fresh 512 KiB buffer is fresh pages: page faults per batch).
    let recycled: SPSCRing<MessageBatch>
    /// The time slice the shard's thread asks for (`ThreadTimeSlice`), if any.
    let timeSlice: UInt64?
    /// The slice the kernel reported to the shard's thread after its request (nil: none asked for, or none
    /// reported). Written by the shard's thread before its first message; read by the router after a round trip.
    private(set) var grantedTimeSlice: UInt64? = nil
    init(pipeline: Pipeline, ringCapacity: Int, timeSlice: UInt64?) {
        self.pipeline = pipeline
        self.timeSlice = timeSlice
        self.input = SPSCRing(capacity: ringCapacity)
        self.output = SPSCRing(capacity: 4)
        self.recycled = SPSCRing(capacity: ringCapacity + 2)
    }

    func start() {
        let t = Thread { [self] in
            if let timeSlice { grantedTimeSlice = ThreadTimeSlice.request(timeSlice) }
            self.loop()
        }
        t.name = "meterline-shard"
        t.start()
    }

    private func loop() {
        while true {
            switch input.pop() {
            case .batch(var b):
                pipeline.process(b)
                b.releaseChunk()
                b.removeAll()
                _ = recycled.tryPush(b) // full: the router has enough spares; this one is freed
            case .barrier:
                output.push(.output(pipeline.checkpoint()))
            case .finish(let t):
                pipeline.finish(closePeriodsEndingBy: t)
                output.push(.output(pipeline.checkpoint()))
            case .sync:
                output.push(.synced)
            case .stop:
                output.push(.stopped)
                return
            }
        }
    }
}

/// How messages are spread over shards.
public enum ShardRouting: Sendable {
    /// By input partition: each partition's watermark sees all of its events, so window close and lateness are
    /// exactly those of one pipeline. For streaming (many partitions).
    case partition
    /// By a hash of `subject`: spreads even a single input over all shards, but each shard then sees only part of
    /// a partition, so its watermark differs. Only for runs where windows close at end of input (backfill, whose
    /// lateness spans the whole range).
    case subject
}

/// The sharded pipeline: the caller's thread routes each message (by partition or by subject, see
/// `ShardRouting`) to one of N shards; each shard is one thread that owns its state alone and is fed batches by a bounded lock-free
/// SPSC ring (back-pressure: the router waits when a shard is behind). A checkpoint barrier flows through
/// every ring; when every shard has answered, the merged output is a consistent snapshot.
///
/// - Warning: all methods are for one owner thread (the router). Configure shards with `configure` before
///   the first message.
/// Invariant: with `.partition` routing, outputs equal those of one `Pipeline` fed the same per-partition
/// sequences; with `.subject` routing, they do when windows close only at end of input.
public final class ShardedPipeline {
    let workers: [ShardWorker]
    /// The batch being filled for each shard (`workers.count` of them). Not an array: writing an array's element
    /// through a class property checks the array's uniqueness with a runtime call, per routed line.
    let batches: UnsafeMutablePointer<MessageBatch>
    let batchSize: Int
    var started = false
    var stopped = false
    public var shardCount: Int { workers.count }

    public let routing: ShardRouting

    /// `timeSlice`: the scheduler slice each shard's thread asks for (`ThreadTimeSlice`; nil: the kernel's default).
    public init(shards: Int, routing: ShardRouting = .partition, batchSize: Int = 2048, ringCapacity: Int = 8,
                timeSlice: UInt64? = nil, make: () -> Pipeline) {
        precondition(shards >= 1 && shards <= 256, "shards must be in 1...256")
        self.routing = routing
        workers = (0..<shards).map { _ in ShardWorker(pipeline: make(), ringCapacity: ringCapacity, timeSlice: timeSlice) }
        batches = .allocate(capacity: shards)
        for i in 0..<shards { (batches + i).initialize(to: MessageBatch(capacity: batchSize)) }
        self.batchSize = batchSize
    }

    /// Configures every shard's pipeline (before the first message).
    public func configure(_ body: (Pipeline) -> Void) {
        precondition(!started, "configure before the first message")
        for w in workers { body(w.pipeline) }
    }

    func startIfNeeded() {
        guard !started else { return }
        started = true
        for w in workers { w.start() }
    }

    /// The shard that owns `partition` under `.partition` routing.
    public func shard(of partition: Int32) -> Int {
        workers.count == 1 ? 0 : Int(UInt32(bitPattern: partition) &* 2_654_435_761 >> 7) % workers.count
    }

    /// The shard that owns a subject (by its hash) under `.subject` routing among `n` shards: `high mod n`, by a mask
    /// when n is a power of two (the same shard; the 64-bit division per routed line held ~16 % of `routeLines`' samples).
    @inline(__always)
    func shard(ofSubject h: Hash128, shards n: Int) -> Int {
        n & (n &- 1) == 0 ? Int(truncatingIfNeeded: h.high & UInt64(n &- 1)) : Int(h.high % UInt64(n))
    }

    /// Routes one message (copied into the shard's current batch, with its key and binary-mode attributes).
    public func process(partition: Int32, offset: Int64, value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil,
                        binary: BinaryAttributes? = nil, nowMicros: Int64) {
        startIfNeeded()
        let n = workers.count
        let shard: Int
        if n == 1 || routing == .partition {
            shard = self.shard(of: partition)
        } else {
            shard = EventParser.peekSubjectHash(value).map { self.shard(ofSubject: $0, shards: n) } ?? 0
        }
        if batches[shard].bytes.count > MessageBatch.maxBytes || batches[shard].shared != nil { send(shard) }
        batches[shard].append(partition: partition, offset: offset, value: value, key: key, binary: binary)
        batches[shard].nowMicros = nowMicros
        if batches[shard].count >= batchSize { send(shard) }
    }

    /// Routes the newline-terminated lines at the start of `text`, at most `maxLines` of them, each one message of
    /// `partition` at offsets `firstOffset`, `firstOffset + 1`, … (an empty line takes its offset and routes
    /// nothing): the same messages as `process(partition:offset:value:nowMicros:)` per line. Bytes after the last
    /// newline are left to the caller. One call per chunk of a file, not per line: no closure, retain or optional
    /// attribute handling per message. Returns the bytes and lines consumed and the messages routed.
    public func routeLines(_ text: UnsafeRawBufferPointer, partition: Int32, firstOffset: Int64, maxLines: Int,
                           nowMicros: Int64) -> (bytes: Int, lines: Int, messages: Int) {
        forEachLine(text, partition: partition, maxLines: maxLines) { shard, lineStart, count, line, _ in
            if batches[shard].bytes.count > MessageBatch.maxBytes { send(shard) }
            batches[shard].append(partition: partition, offset: firstOffset + Int64(line),
                                  value: UnsafeRawBufferPointer(rebasing: text[lineStart..<lineStart + count]))
            batches[shard].nowMicros = nowMicros
            if batches[shard].count >= batchSize { send(shard) }
        }
    }

    /// `routeLines(_:partition:firstOffset:maxLines:nowMicros:)` over `chunk.bytes[from...]`, with the lines read
    /// in place by the shards instead of copied into their batches. The caller refills the chunk only once it
    /// `isFree` again (every batch holding its lines was processed).
    public func routeLines(in chunk: SharedChunk, from: Int, partition: Int32, firstOffset: Int64, maxLines: Int,
                           nowMicros: Int64) -> (bytes: Int, lines: Int, messages: Int) {
        let text = UnsafeRawBufferPointer(rebasing: chunk.bytes[from...])
        return forEachLine(text, partition: partition, maxLines: maxLines) { shard, lineStart, count, line, head in
            // A batch holds lines of one chunk only (or copied messages only): send it before it would mix.
            if batches[shard].shared !== chunk && !batches[shard].isEmpty { send(shard) }
            batches[shard].appendInPlace(chunk, partition: partition, offset: firstOffset + Int64(line), start: from + lineStart, count: count,
                                         head: head)
            batches[shard].nowMicros = nowMicros
            if batches[shard].count >= batchSize { send(shard) }
        }
    }

    /// The line loop of both `routeLines`: calls `add(shard, start, count, line, head)` for each non-empty line of
    /// `text` (its range in `text`, its index among the lines, and, under `.subject` routing, the canonical head
    /// found while looking for the subject), inlined into each caller.
    @inline(__always)
    func forEachLine(_ text: UnsafeRawBufferPointer, partition: Int32, maxLines: Int,
                     _ add: (_ shard: Int, _ start: Int, _ count: Int, _ line: Int, _ head: CanonicalHead?) -> Void) -> (bytes: Int, lines: Int, messages: Int) {
        startIfNeeded()
        guard let base = text.baseAddress else { return (0, 0, 0) }
        let n = workers.count
        let bySubject = n > 1 && routing == .subject
        let partitionShard = bySubject ? 0 : shard(of: partition)
        var pos = 0, lines = 0, messages = 0
        while lines < maxLines, pos < text.count, let found = memchr(base + pos, 0x0A, text.count - pos) {
            let end = base.distance(to: UnsafeRawPointer(found))
            if end > pos {
                let line = UnsafeRawBufferPointer(start: base + pos, count: end - pos)
                var shard = partitionShard
                var head: CanonicalHead? = nil
                if bySubject {
                    head = EventParser.canonicalHead(line)
                    let hash = head?.subjectHash ?? EventParser.peekSubjectHash(line)
                    shard = hash.map { self.shard(ofSubject: $0, shards: n) } ?? 0
                }
                add(shard, pos, end - pos, lines, head)
                messages += 1
            }
            lines += 1
            pos = end + 1
        }
        return (pos, lines, messages)
    }

    func send(_ shard: Int) {
        guard !batches[shard].isEmpty else { return }
        let b = batches[shard]
        batches[shard] = workers[shard].recycled.tryPop() ?? MessageBatch(capacity: batchSize)
        workers[shard].input.push(.batch(b))
    }

    /// Runs `body` on the router's thread with every shard's pipeline, once each shard has processed everything
    /// routed to it and parked (a `sync` round trip): for what touches partition state between messages —
    /// restoring or dropping a partition, advancing an idle one, reading counters. Shards stay parked until the
    /// next message, barrier or sync is pushed.
    public func quiesce<R>(_ body: ([Pipeline]) throws -> R) rethrows -> R {
        precondition(pendingCheckpoints == 0, "collect the begun checkpoints first")
        if started && !stopped {
            for s in workers.indices { send(s) }
            for w in workers { w.input.push(.sync) }
            for w in workers {
                guard case .synced = w.output.pop() else { preconditionFailure("a shard answered sync with something else") }
            }
        }
        return try body(workers.map(\.pipeline))
    }

    /// A barrier through every shard; returns each shard's output in shard order.
    public func checkpoint() -> [CheckpointOutput] { roundTrip(.barrier) }

    /// Barriers sent by `beginCheckpoint` whose outputs `collectCheckpoint` has not taken yet.
    public private(set) var pendingCheckpoints = 0

    /// Sends a checkpoint barrier through every shard without waiting for it; `collectCheckpoint()` takes its
    /// outputs later, in barrier order. The router goes on routing meanwhile: waiting for every shard at each
    /// barrier (`checkpoint()`) left a core idle twice per checkpoint, while the shards drained their rings and
    /// while they waited for the router's next batch.
    /// At most `maxPendingCheckpoints` may be outstanding: a shard whose result ring is full stops taking input.
    public func beginCheckpoint() {
        precondition(pendingCheckpoints < ShardedPipeline.maxPendingCheckpoints,
                     "collect a checkpoint before beginning more than \(ShardedPipeline.maxPendingCheckpoints)")
        startIfNeeded()
        for s in workers.indices { send(s) }
        for w in workers { w.input.push(.barrier) }
        pendingCheckpoints += 1
    }

    /// The outputs of the oldest barrier sent by `beginCheckpoint()`, in shard order (waits for every shard to reach it).
    public func collectCheckpoint() -> [CheckpointOutput] {
        precondition(pendingCheckpoints > 0, "no checkpoint begun")
        pendingCheckpoints -= 1
        return workers.map {
            guard case .output(let o) = $0.output.pop() else { preconditionFailure("a shard answered a barrier with something else") }
            return o
        }
    }

    /// Fewer than each shard's result ring holds, so that a shard never waits to answer with a sync or stop behind them.
    public static let maxPendingCheckpoints = 2

    /// End of input on every shard, then its last outputs.
    public func finish(closePeriodsEndingBy t: Int64? = nil) -> [CheckpointOutput] { roundTrip(.finish(closePeriodsEndingBy: t)) }

    func roundTrip(_ m: ShardMessage) -> [CheckpointOutput] {
        precondition(pendingCheckpoints == 0, "collect the begun checkpoints first")
        startIfNeeded()
        for s in workers.indices { send(s) }
        for w in workers { w.input.push(m) }
        return workers.map {
            guard case .output(let o) = $0.output.pop() else { preconditionFailure("a shard answered a barrier with something else") }
            return o
        }
    }

    /// Stops the shard threads; afterwards `counters` may be read.
    public func stop() {
        guard started, !stopped else { return }
        stopped = true
        // Begun checkpoints' outputs are dropped (an early stop, on an error): their answers come first.
        while pendingCheckpoints > 0 { _ = collectCheckpoint() }
        for s in workers.indices { send(s) }
        for w in workers { w.input.push(.stop) }
        for w in workers {
            guard case .stopped = w.output.pop() else { preconditionFailure("a shard answered stop with something else") }
        }
    }

    /// Sum of all shards' counters (after `stop`, or before the first message).
    public var counters: Counters {
        var c = Counters()
        for s in shardCounters { c.add(s) }
        return c
    }

    /// The slice each shard's thread was granted after asking for `timeSlice`, in shard order (nil: not asked for,
    /// or not reported by the kernel). After `stop`.
    public var shardTimeSlices: [UInt64?] {
        precondition(!started || stopped, "read the shards' slices after stop()")
        return workers.map(\.grantedTimeSlice)
    }

    /// Each shard's counters, in shard order (after `stop`, or before the first message).
    public var shardCounters: [Counters] {
        precondition(!started || stopped, "read counters after stop()")
        return workers.map(\.pipeline.counters)
    }

    /// Each input partition's counters, whichever shard holds it (after `stop`, or before the first message).
    public var partitionCounters: [Int32: Counters] {
        precondition(!started || stopped, "read counters after stop()")
        var out: [Int32: Counters] = [:]
        for w in workers { for p in w.pipeline.partitions { out[p] = w.pipeline.counters(partition: p) } }
        return out
    }

    deinit {
        stop()
        batches.deinitialize(count: workers.count)
        batches.deallocate()
    }
}
