internal import CRdKafka
internal import Dispatch

/// The consumer's rebalance hooks, reached from `rebalanceCallback` through the conf opaque.
///
/// Ownership: the consumer holds the only strong reference and passes it *unretained* as the opaque;
/// `close` hands a strong reference to the background thread that closes the handle, so the
/// context outlives every callback. `closing` is set before that hand-off (the dispatch orders
/// the write before the thread's reads), after which the hooks are no longer called.
/// `@unchecked Sendable` for that hand-off only; hooks run on the thread that calls `poll`.
final class RebalanceContext: @unchecked Sendable {
    let onAssign: (([TopicPartition]) -> Void)?
    let onRevoke: (([TopicPartition]) -> Void)?
    /// Where to start a newly assigned partition (e.g. the offset recorded in its restored state); nil keeps
    /// librdkafka's choice (the committed offset, else `auto.offset.reset`).
    let startOffset: ((TopicPartition) -> Int64?)?
    var closing = false
    /// A failed (incremental) assign/unassign inside the callback, picked up by `poll`.
    var error: KafkaError?

    init(onAssign: (([TopicPartition]) -> Void)?, onRevoke: (([TopicPartition]) -> Void)?, startOffset: ((TopicPartition) -> Int64?)?) {
        self.onAssign = onAssign
        self.onRevoke = onRevoke
        self.startOffset = startOffset
    }
}

/// `rd_kafka_conf_set_rebalance_cb` callback: does what librdkafka does without a callback (eager:
/// assign/unassign all; cooperative: incremental) and calls the hooks around it — `onAssign` after
/// the assignment took effect, `onRevoke` before the partitions go (so it can still commit).
private func rebalanceCallback(
    _ rk: OpaquePointer?, _ err: rd_kafka_resp_err_t,
    _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let rk, let opaque else { return }
    let ctx = Unmanaged<RebalanceContext>.fromOpaque(opaque).takeUnretainedValue()
    let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
    let partitions = list.map { PartitionList.entries($0).map(\.topicPartition) } ?? []
    if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
        if let start = ctx.startOffset, let list {
            for i in 0..<Int(list.pointee.cnt) {
                let e = list.pointee.elems[i]
                if let o = start(TopicPartition(topic: String(cString: e.topic), partition: e.partition)) { list.pointee.elems[i].offset = o }
            }
        }
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, list) {
                ctx.error = KafkaError(consuming: error, "incremental assign in rebalance")
            }
        } else {
            let e = rd_kafka_assign(rk, list)
            if e != RD_KAFKA_RESP_ERR_NO_ERROR { ctx.error = KafkaError(e, "assign in rebalance") }
        }
        if !ctx.closing { ctx.onAssign?(partitions) }
    } else {  // _REVOKE_PARTITIONS, or a rebalance error: give everything in `list` up
        if !ctx.closing { ctx.onRevoke?(partitions) }
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, list) {
                ctx.error = KafkaError(consuming: error, "incremental unassign in rebalance")
            }
        } else {
            let e = rd_kafka_assign(rk, nil)
            if e != RD_KAFKA_RESP_ERR_NO_ERROR { ctx.error = KafkaError(e, "unassign in rebalance") }
        }
    }
}

/// A librdkafka consumer: group subscription (librdkafka's default rebalance handling) or manual
/// assignment, batch polling, synchronous commits, and offset lookups.
///
/// Invariants: between `init` and `close` the C handle and its consumer queue are valid; after
/// `close` every method throws (or is a no-op for `close`). Messages reach `poll`'s closure in
/// partition order, and a message is only ever lent, never copied, by this type.
///
/// - Warning: Not thread-safe. Use each consumer from one thread at a time. It is
///   `@unchecked Sendable` only so that it can be handed from one task to another.
/// - Important: blocking calls (`poll` with a timeout, `commit`, `committed`, `watermarks`, …)
///   block the calling thread; call them off the cooperative pool (a dedicated thread) in
///   production code.
public final class KafkaConsumer: @unchecked Sendable {
    private var rk: OpaquePointer?
    /// The consumer queue (`rd_kafka_queue_get_consumer`), destroyed before the handle.
    private var queue: OpaquePointer?
    private let config: [String: String]
    private let hasGroup: Bool
    /// Present only when hooks were given; kept alive past `close` by the closing thread.
    private let rebalance: RebalanceContext?
    /// Reused `rd_kafka_message_t *` array for `rd_kafka_consume_batch_queue`.
    private var batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private var batchCapacity: Int
    /// Topic name per `rd_kafka_topic_t *`, so that no `String` is built per message.
    private var topicNames: [OpaquePointer: String] = [:]

    /// Partitions whose latest event was "end of partition" (needs `enable.partition.eof=true`).
    /// A partition leaves the set when `poll` delivers a newer message from it.
    public private(set) var eofPartitions: Set<TopicPartition> = []
    /// The latest non-fatal error event seen by `poll` (e.g. a broker transport failure, which
    /// librdkafka retries by itself), or a failure to rewind after the `poll` closure threw.
    public private(set) var lastError: KafkaError?

    /// Creates a consumer; `config` goes property by property to `rd_kafka_conf_set` (an unknown or
    /// invalid property throws a `KafkaError` naming the key). `group.id` is needed for
    /// `subscribe`, `commit` and `committed`, not for `assign` (without one, the handle gets a
    /// private group id that never joins or commits: librdkafka 2.0.2 needs one for its consumer
    /// queue). Events are routed to the consumer queue
    /// (`rd_kafka_poll_set_consumer`), so `poll` also serves rebalances and errors.
    ///
    /// `onAssign` / `onRevoke` (optional) are called from inside `poll` when the group assigns or
    /// revokes partitions; `onRevoke` runs before the partitions are given up, so it may `commit`.
    /// They are not called during `close` (commit before closing), and must not call `poll`. Without hooks librdkafka's
    /// default rebalance handling applies unchanged.
    public init(
        config: [String: String],
        onAssign: (([TopicPartition]) -> Void)? = nil,
        onRevoke: (([TopicPartition]) -> Void)? = nil,
        startOffset: ((TopicPartition) -> Int64?)? = nil
    ) throws {
        self.config = config
        hasGroup = !(config["group.id"] ?? "").isEmpty
        let conf = try makeConf(hasGroup ? config : assignOnlyConfig(config))
        if onAssign != nil || onRevoke != nil || startOffset != nil {
            let ctx = RebalanceContext(onAssign: onAssign, onRevoke: onRevoke, startOffset: startOffset)
            rebalance = ctx
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(ctx).toOpaque())
        } else {
            rebalance = nil
        }
        let rk = try makeHandle(RD_KAFKA_CONSUMER, conf)
        let err = rd_kafka_poll_set_consumer(rk)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let queue = rd_kafka_queue_get_consumer(rk) else {
            rd_kafka_destroy(rk)
            throw KafkaError(err == RD_KAFKA_RESP_ERR_NO_ERROR ? RD_KAFKA_RESP_ERR__FAIL : err,
                             "rd_kafka_poll_set_consumer")
        }
        self.rk = rk
        self.queue = queue
        batchCapacity = 256
        batch = .allocate(capacity: batchCapacity)
    }

    deinit {
        close()
        batch.deallocate()
    }

    func handle() throws -> OpaquePointer {
        guard let rk else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "consumer is closed")
        }
        return rk
    }

    // MARK: Subscription and assignment

    /// Joins the consumer group (from `group.id`) and subscribes to `topics`; partitions are
    /// assigned by the group during later `poll` calls (the first join takes seconds).
    public func subscribe(_ topics: [String]) throws {
        let rk = try handle()
        guard hasGroup else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                             message: "subscribe needs \"group.id\" in the consumer config")
        }
        precondition(!topics.isEmpty, "subscribe to no topics; use close() or assign([]) instead")
        let list = PartitionList(topics.map { TopicPartition(topic: $0, partition: -1 /* UA */) })
        let err = rd_kafka_subscribe(rk, list.ptr)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "subscribe \(topics)") }
    }

    /// Leaves the subscription (the group revokes this member's partitions during later polls).
    public func unsubscribe() throws {
        let err = rd_kafka_unsubscribe(try handle())
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "unsubscribe") }
    }

    /// Replaces the assignment with `partitions`, each starting at its offset (a real offset or a
    /// `KafkaOffset` value). No group needed. `[]` removes the assignment. `eofPartitions` starts empty again.
    public func assign(_ partitions: [TopicPartitionOffset]) throws {
        let rk = try handle()
        eofPartitions.removeAll()
        let err: rd_kafka_resp_err_t
        if partitions.isEmpty {
            err = rd_kafka_assign(rk, nil)
        } else {
            let list = PartitionList(partitions)
            err = rd_kafka_assign(rk, list.ptr)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "assign \(partitions)") }
    }

    /// The current assignment (manual or from the group).
    public func assignment() throws -> [TopicPartition] {
        let rk = try handle()
        var raw: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(rk, &raw)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "assignment") }
        guard let raw else { return [] }
        return PartitionList(adopting: raw).offsets.map(\.topicPartition)
    }

    // MARK: Polling

    /// Polls up to `max` messages (one `rd_kafka_consume_batch_queue` call on the consumer queue,
    /// waiting up to `timeoutMs` for the first) and calls `body` for each non-error message, in
    /// order. Returns how many messages were passed to `body`.
    ///
    /// Error events are not passed to `body`: partition EOF is recorded in `eofPartitions`; a fatal
    /// error, or `auto.offset.reset=error` firing, throws; other errors are kept in `lastError`.
    ///
    /// If `body` throws (or an error event throws), the messages not yet processed — including the
    /// one `body` threw on — are given back: each affected partition is seeked back to its first
    /// unprocessed offset, so the next `poll` sees them again. (Offsets auto-stored by librdkafka
    /// are not rewound: use `enable.auto.commit=false` and `commit` for at-least-once.)
    public func poll(max: Int, timeoutMs: Int32, _ body: (KafkaMessageView) throws -> Void) throws -> Int {
        precondition(max > 0, "poll(max:) must be positive")
        _ = try handle()
        let queue = queue!
        if max > batchCapacity {
            batch.deallocate()
            batch = .allocate(capacity: max)
            batchCapacity = max
        }
        let n = rd_kafka_consume_batch_queue(queue, timeoutMs, batch, max)
        if let error = rebalance?.error {
            rebalance?.error = nil
            lastError = error
        }
        if n < 0 { throw KafkaError(rd_kafka_last_error(), "consume batch") }
        precondition(n <= max, "librdkafka returned more messages than asked for")
        let count = Int(n)
        var next = 0  // messages [next, count) are still ours to destroy
        defer {
            for i in next..<count { rd_kafka_message_destroy(batch[i]) }
        }
        var delivered = 0
        while next < count {
            let m = batch[next]!
            if m.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if let error = errorEvent(m) {
                    rewind(batchFrom: next + 1, to: count)
                    throw error
                }
            } else {
                let topic = topicName(m.pointee.rkt)
                if !eofPartitions.isEmpty {
                    eofPartitions.remove(TopicPartition(topic: topic, partition: m.pointee.partition))
                }
                do {
                    try body(KafkaMessageView(message: m, topic: topic))
                } catch {
                    rewind(batchFrom: next, to: count)
                    throw error
                }
                delivered += 1
            }
            rd_kafka_message_destroy(m)
            next += 1
        }
        assert(delivered <= count)
        return delivered
    }

    /// The name of `rkt`, from the cache when the pointer is known and still names the same topic
    /// (guards against a destroyed handle's address being reused).
    private func topicName(_ rkt: OpaquePointer?) -> String {
        guard let rkt, let cname = rd_kafka_topic_name(rkt) else { return "" }
        if let cached = topicNames[rkt], sameName(cached, cname) {
            return cached
        }
        let name = String(cString: cname)
        topicNames[rkt] = name
        return name
    }

    /// Whether the C string `c` spells `s` (stops at the first mismatch, so never reads past
    /// `c`'s terminator).
    private func sameName(_ s: String, _ c: UnsafePointer<CChar>) -> Bool {
        var i = 0
        for byte in s.utf8 {
            if UInt8(bitPattern: c[i]) != byte { return false }
            i += 1
        }
        return c[i] == 0
    }

    /// Handles an error event; returns the error if `poll` must throw it.
    private func errorEvent(_ m: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaError? {
        let err = m.pointee.err
        let topic = topicName(m.pointee.rkt)
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            eofPartitions.insert(TopicPartition(topic: topic, partition: m.pointee.partition))
            return nil
        }
        let detail = rd_kafka_message_errstr(m).map { String(cString: $0) } ?? ""
        let place = topic.isEmpty ? "" : " \(topic)[\(m.pointee.partition)]"
        if err == RD_KAFKA_RESP_ERR__FATAL {
            var errstr = [CChar](repeating: 0, count: 512)
            let fatal = rd_kafka_fatal_error(rk, &errstr, errstr.count)
            return KafkaError(code: fatal.rawValue, message: "consumer fatal error: \(errorString(errstr))")
        }
        let error = KafkaError(code: err.rawValue, message: "consumer error\(place): \(detail)")
        if err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET { return error }
        lastError = error
        return nil
    }

    /// Seeks every partition that has messages in `batch[from..<to]` back to its first such offset.
    private func rewind(batchFrom from: Int, to: Int) {
        guard from < to, let rk else { return }
        var first: [TopicPartition: Int64] = [:]
        for i in from..<to {
            let m = batch[i]!.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            let tp = TopicPartition(topic: topicName(m.rkt), partition: m.partition)
            if first[tp] == nil { first[tp] = m.offset }
        }
        guard !first.isEmpty else { return }
        let list = PartitionList(first.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
        if let error = rd_kafka_seek_partitions(rk, list.ptr, 5_000) {
            lastError = KafkaError(consuming: error, "rewind after a failed poll")
        } else if let error = list.firstError("rewind after a failed poll") {
            lastError = error
        }
    }

    // MARK: Offsets

    /// Commits `offsets` (each the *next* offset to read) synchronously for the group.
    public func commit(_ offsets: [TopicPartitionOffset]) throws {
        let rk = try handle()
        guard hasGroup else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                             message: "commit needs \"group.id\" in the consumer config")
        }
        guard !offsets.isEmpty else { return }
        precondition(offsets.allSatisfy { $0.offset >= 0 }, "commit real offsets only: \(offsets)")
        let list = PartitionList(offsets)
        let err = rd_kafka_commit(rk, list.ptr, 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "commit \(offsets)") }
        if let error = list.firstError("commit") { throw error }
    }

    /// The group's committed offsets; `KafkaOffset.invalid` for partitions never committed.
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws -> [TopicPartitionOffset] {
        let rk = try handle()
        guard hasGroup else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                             message: "committed needs \"group.id\" in the consumer config")
        }
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions)
        let err = rd_kafka_committed(rk, list.ptr, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "committed \(partitions)") }
        if let error = list.firstError("committed") { throw error }
        return list.offsets
    }

    /// The next offset `poll` will deliver per partition (last delivered + 1), or
    /// `KafkaOffset.invalid` if nothing was delivered yet.
    public func position(_ partitions: [TopicPartition]) throws -> [TopicPartitionOffset] {
        let rk = try handle()
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions)
        let err = rd_kafka_position(rk, list.ptr)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "position \(partitions)") }
        return list.offsets
    }

    /// Low and high watermark, asked from the partition leader.
    public func watermarks(topic: String, partition: Int32, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        let rk = try handle()
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "watermarks of \(topic)[\(partition)]") }
        precondition(0 <= low && low <= high, "watermarks out of order: \(low) > \(high)")
        return (low, high)
    }

    /// The topic's partition count, from a metadata request. Throws if the topic does not exist.
    public func partitionCount(topic: String, timeoutMs: Int32) throws -> Int32 {
        try metadataPartitionCount(try handle(), topic: topic, timeoutMs: timeoutMs)
    }

    /// Offsets for a timestamp: per partition of `topic`, the earliest offset whose message
    /// timestamp is `>= timestampMs`, or the high watermark if there is none (so an empty
    /// partition answers its high watermark, and a time before everything answers the low one).
    ///
    /// It first asks the broker (`rd_kafka_offsets_for_times`). Where the broker answers -1 for a
    /// partition that has messages — librdkafka's mock cluster always does — it falls back to a
    /// binary search on message timestamps between the low and high watermark, reading single
    /// messages through a private, group-less consumer (this consumer's assignment and position
    /// are untouched). Each probe costs one fetch; a partition takes about log2(high − low) probes.
    ///
    /// - Important: the fallback assumes timestamps are non-decreasing within a partition
    ///   (CreateTime from a well-behaved producer, or LogAppendTime). If they are not, the result
    ///   is still an offset `o` in `[low, high]` at a boundary the search met (timestamp before
    ///   `o` < `timestampMs` <= timestamp at `o`), but not necessarily the earliest one: messages
    ///   before `o` may have later timestamps and messages after it earlier ones. Messages without
    ///   a timestamp count as earlier than any `timestampMs >= 0`.
    public func offsetsForTimes(topic: String, timestampMs: Int64, timeoutMs: Int32) throws -> [TopicPartitionOffset] {
        let rk = try handle()
        let deadline = Deadline(timeoutMs: timeoutMs)
        let count = try metadataPartitionCount(rk, topic: topic, timeoutMs: deadline.remainingMs)
        let list = PartitionList(capacity: Int(count))
        for p in 0..<count { list.add(topic, p, timestampMs) }
        let err = rd_kafka_offsets_for_times(rk, list.ptr, deadline.remainingMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "offsets_for_times \(topic)") }
        var brokerAnswer: [Int32: Int64] = [:]
        for i in 0..<list.count {
            let e = list.ptr.pointee.elems[i]
            if e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0 { brokerAnswer[e.partition] = e.offset }
        }

        var lookup: OffsetLookup?
        var result: [TopicPartitionOffset] = []
        result.reserveCapacity(Int(count))
        for p in 0..<count {
            let (low, high) = try watermarks(topic: topic, partition: p, timeoutMs: deadline.remainingMs)
            let offset: Int64
            if low == high {
                offset = high
            } else if let answer = brokerAnswer[p] {
                offset = answer
            } else {
                if lookup == nil { lookup = try OffsetLookup(config: config) }
                offset = try lookup!.search(topic: topic, partition: p, low: low, high: high,
                                            timestampMs: timestampMs, deadline: deadline)
            }
            precondition(low <= offset && offset <= high, "offset \(offset) outside [\(low), \(high)]")
            result.append(TopicPartitionOffset(topic: topic, partition: p, offset: offset))
        }
        return result
    }

    // MARK: Closing

    /// Leaves the group (committing nothing itself) and destroys the handle, waiting at most
    /// `timeoutMs`. `rd_kafka_consumer_close` can hang for ~30 s (e.g. when the cluster is gone),
    /// so it runs on a background thread: if the bound passes, this returns `false` and that
    /// thread destroys the handle whenever librdkafka lets go. Idempotent; `deinit` calls it.
    @discardableResult
    public func close(timeoutMs: Int32 = 10_000) -> Bool {
        guard let rk else { return true }
        let handles = HandedOverHandles(rk: rk, queue: queue)
        self.rk = nil
        self.queue = nil
        topicNames = [:]
        rebalance?.closing = true
        return destroyInBackground(handles, consumerClose: true, keepAlive: rebalance, timeoutMs: timeoutMs)
    }
}

/// Config for a consumer that only ever uses `assign`. librdkafka 2.0.2 has no consumer queue
/// without a group (`rd_kafka_poll_set_consumer` fails with "Unknown group"), so it gets a private,
/// unique `group.id` that never joins (no `subscribe`) and never commits (auto-commit off;
/// `KafkaConsumer.commit` refuses without a user-given group).
func assignOnlyConfig(_ config: [String: String]) -> [String: String] {
    var c = config
    c["group.id"] = "meterline.assign-only.\(String(UInt64.random(in: .min ... .max), radix: 16))"
    c["enable.auto.commit"] = "false"
    return c
}

/// Destroys a consumer handle on a background thread and waits up to `timeoutMs` for it.
/// Returns whether destruction finished within the bound; if not, the thread finishes it later.
/// `keepAlive` (the rebalance context, if any) is held until the handle is gone.
func destroyInBackground(
    _ h: HandedOverHandles, consumerClose: Bool, keepAlive: RebalanceContext? = nil, timeoutMs: Int32
) -> Bool {
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global(qos: .utility).async {
        if consumerClose { _ = rd_kafka_consumer_close(h.rk) }
        if let queue = h.queue { rd_kafka_queue_destroy(queue) }
        rd_kafka_destroy(h.rk)
        withExtendedLifetime(keepAlive) {}
        done.signal()
    }
    return done.wait(timeout: .now() + .milliseconds(Int(max(timeoutMs, 0)))) == .success
}

/// Partition count of `topic` via a metadata request on `rk`.
func metadataPartitionCount(_ rk: OpaquePointer, topic: String, timeoutMs: Int32) throws -> Int32 {
    guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
        throw KafkaError(rd_kafka_last_error(), "topic handle for \"\(topic)\"")
    }
    defer { rd_kafka_topic_destroy(rkt) }
    var md: UnsafePointer<rd_kafka_metadata>?
    let err = rd_kafka_metadata(rk, 0, rkt, &md, timeoutMs)
    if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "metadata for \"\(topic)\"") }
    guard let md else { fatalError("rd_kafka_metadata succeeded without metadata") }
    defer { rd_kafka_metadata_destroy(md) }
    guard md.pointee.topic_cnt == 1 else {
        throw KafkaError(code: RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue,
                         message: "metadata for \"\(topic)\": \(md.pointee.topic_cnt) topics returned")
    }
    let t = md.pointee.topics[0]
    if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(t.err, "metadata for \"\(topic)\"") }
    if t.partition_cnt <= 0 {
        throw KafkaError(code: RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue, message: "topic \"\(topic)\" has no partitions")
    }
    return Int32(t.partition_cnt)
}

/// A wall-clock bound shared by the steps of one operation.
struct Deadline {
    let end: ContinuousClock.Instant
    init(timeoutMs: Int32) { end = .now + .milliseconds(Int(max(timeoutMs, 0))) }
    var remainingMs: Int32 {
        let left = ContinuousClock.now.duration(to: end)
        if left <= .zero { return 0 }
        let (s, atto) = left.components
        return Int32(clamping: s * 1000 + atto / 1_000_000_000_000_000)
    }
    var passed: Bool { ContinuousClock.now >= end }
}

/// The private consumer behind `KafkaConsumer.offsetsForTimes`' fallback: group-less, no commits,
/// partition EOF on, small fetches; it reads one message per probe. Destroyed in `deinit`.
final class OffsetLookup {
    private let rk: OpaquePointer

    init(config: [String: String]) throws {
        var c = config
        for key in ["group.id", "group.instance.id", "group.protocol.type", "partition.assignment.strategy"] {
            c.removeValue(forKey: key)
        }
        c = assignOnlyConfig(c)
        c["enable.auto.offset.store"] = "false"
        c["enable.partition.eof"] = "true"
        c["auto.offset.reset"] = "earliest"  // a probe below a moved low watermark reads from there
        c["max.partition.fetch.bytes"] = "65536"
        c["fetch.wait.max.ms"] = "10"
        rk = try makeHandle(RD_KAFKA_CONSUMER, try makeConf(c))
        let err = rd_kafka_poll_set_consumer(rk)
        precondition(err == RD_KAFKA_RESP_ERR_NO_ERROR, "rd_kafka_poll_set_consumer on a fresh consumer failed")
    }

    deinit {
        // No group: nothing to leave, so skip rd_kafka_consumer_close; still bound the wait.
        _ = destroyInBackground(HandedOverHandles(rk: rk, queue: nil), consumerClose: false, timeoutMs: 5_000)
    }

    /// Binary search for the earliest offset in `[low, high]` whose message timestamp is
    /// `>= timestampMs` (`high` if none), assuming non-decreasing timestamps.
    func search(topic: String, partition: Int32, low: Int64, high: Int64, timestampMs: Int64,
                deadline: Deadline) throws -> Int64 {
        precondition(low < high, "search on an empty range")
        // Invariant: messages before `lo` have timestamps < timestampMs; the first message at or
        // after `hi` has a timestamp >= timestampMs, or `hi == high`.
        var lo = low
        var hi = high
        var probes = 0
        while lo < hi {
            probes += 1
            precondition(probes <= 64, "binary search did not converge")
            let mid = lo + (hi - lo) / 2
            if let (offset, ts) = try firstMessage(topic: topic, partition: partition, atOrAfter: mid, deadline: deadline),
               ts < timestampMs {
                lo = min(offset + 1, hi)
            } else {
                hi = mid  // nothing at/after mid, or that message is already late enough
            }
        }
        assert(lo == hi && low <= lo && lo <= high)
        return lo
    }

    /// The first message at or after `offset`: its offset and timestamp, or nil at end of partition.
    private func firstMessage(topic: String, partition: Int32, atOrAfter offset: Int64,
                              deadline: Deadline) throws -> (Int64, Int64)? {
        let list = PartitionList([TopicPartitionOffset(topic: topic, partition: partition, offset: offset)])
        let err = rd_kafka_assign(rk, list.ptr)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "assign for offset lookup") }
        defer { _ = rd_kafka_assign(rk, nil) }
        while !deadline.passed {
            guard let m = rd_kafka_consumer_poll(rk, min(deadline.remainingMs, 100)) else { continue }
            defer { rd_kafka_message_destroy(m) }
            let msg = m.pointee
            if msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF && msg.partition == partition { return nil }
            if msg.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if msg.rkt == nil { continue }  // client-wide (e.g. transport) errors: librdkafka retries
                throw KafkaError(msg.err, "offset lookup read \(topic)[\(partition)]@\(offset)")
            }
            guard msg.partition == partition, msg.offset >= offset else { continue }  // stale fetch
            var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            return (msg.offset, rd_kafka_message_timestamp(m, &tsType))
        }
        throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue,
                         message: "offset lookup: no message at or after \(topic)[\(partition)]@\(offset) in time")
    }
}
