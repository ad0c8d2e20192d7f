// MeterlineKafka — every byte Meterline exchanges with librdkafka goes through this module.
//
// Owns: all librdkafka access. That is every `rd_kafka_t` handle (producers, consumers, the
// in-process mock cluster used by tests and embedded mode), their configuration, the topic-handle
// caches, and the one place where C error codes become `KafkaError`.
//
// Boundaries:
// - `internal import CRdKafka` everywhere: no C type (handle, message, enum) appears in the public
//   API. Handles are `OpaquePointer`s held by final classes whose `deinit` destroys them.
// - Borrowed C memory (message keys, values, headers) is lent only inside the closure passed to
//   `KafkaConsumer.poll`, as `KafkaMessageView`; it must not escape that closure.
// - Must never import another Meterline module (MeterlineCore, MeterlinePipeline, MeterlineEngine,
//   …). Dependencies point into this module, never out of it: it depends on CRdKafka and the
//   standard library (plus Dispatch and Synchronization) only.
//
// Threading: the handle classes are `@unchecked Sendable` so that they can be moved between tasks;
// each instance must still be used from one thread at a time (documented per type).

internal import CRdKafka

/// An error reported by librdkafka or by this module's wrapper around it.
///
/// Invariant: `code` is a librdkafka `rd_kafka_resp_err_t` value (negative: client-side, positive:
/// broker protocol error, see `KafkaError.Code`) and `message` is human readable and, for
/// configuration errors, names the offending property.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    /// Where in this module the C error was converted (`#fileID:#line`), for diagnostics only.
    public let location: String

    public init(code: Int32, message: String, file: StaticString = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.location = "\(file):\(line)"
    }

    public var description: String { "kafka: \(message) (code \(code))" }

    /// librdkafka error codes that callers may want to match on, without importing C.
    /// Invariant: each equals the `rd_kafka_resp_err_t` of the same name.
    public enum Code {
        public static let partitionEOF: Int32 = RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue
        public static let unknownTopic: Int32 = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue
        public static let invalidArgument: Int32 = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
        public static let timedOut: Int32 = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
        public static let queueFull: Int32 = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
        public static let fatal: Int32 = RD_KAFKA_RESP_ERR__FATAL.rawValue
        public static let autoOffsetReset: Int32 = RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue
        public static let unknownTopicOrPartition: Int32 = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
    }
}

extension KafkaError {
    /// Converts a response code once, at the boundary. `what` says which call failed.
    init(_ err: rd_kafka_resp_err_t, _ what: String, file: StaticString = #fileID, line: UInt = #line) {
        precondition(err != RD_KAFKA_RESP_ERR_NO_ERROR, "KafkaError made from NO_ERROR")
        self.init(code: err.rawValue, message: "\(what): \(String(cString: rd_kafka_err2str(err)))",
                  file: file, line: line)
    }

    /// Converts and destroys an `rd_kafka_error_t`.
    init(consuming error: OpaquePointer, _ what: String, file: StaticString = #fileID, line: UInt = #line) {
        defer { rd_kafka_error_destroy(error) }
        self.init(code: rd_kafka_error_code(error).rawValue,
                  message: "\(what): \(String(cString: rd_kafka_error_string(error)))",
                  file: file, line: line)
    }
}

/// A partition of a topic. Invariant: none beyond `partition >= 0` for real partitions.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    public var description: String { "\(topic)[\(partition)]" }
}

/// A partition and an offset in it. Invariant: `offset` is either a real offset (>= 0) or one of
/// the logical values in `KafkaOffset`; for commits it is the *next* offset to read.
public struct TopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
    public var description: String { "\(topic)[\(partition)]@\(offset)" }
}

/// Logical offsets understood by `KafkaConsumer.assign` and returned by `committed`/`position`.
/// Invariant: all are negative, so they never collide with real offsets.
public enum KafkaOffset {
    /// Start from the partition's low watermark.
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
    /// Start from the partition's high watermark (only new messages).
    public static let end = Int64(RD_KAFKA_OFFSET_END)
    /// Start from the group's committed offset (falls back to `auto.offset.reset`).
    public static let stored = Int64(RD_KAFKA_OFFSET_STORED)
    /// No offset: e.g. `committed` for a partition the group never committed.
    public static let invalid = Int64(RD_KAFKA_OFFSET_INVALID)
}

// MARK: - Internal helpers shared by producer, consumer and mock cluster

/// Builds an `rd_kafka_conf_t` from string properties. The caller owns the result (and passes it
/// to `makeHandle`, which takes it over). Properties are applied in key order so errors are
/// deterministic; the error names the bad key but never echoes the value (it may be a secret).
func makeConf(_ config: [String: String]) throws(KafkaError) -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else { fatalError("rd_kafka_conf_new returned NULL") }
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in config.sorted(by: { $0.key < $1.key }) {
        let res = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        if res != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            let kind = res == RD_KAFKA_CONF_UNKNOWN
                ? "unknown configuration property" : "invalid value for configuration property"
            // librdkafka quotes the value in its text; keep the key, drop the value.
            let detail = value.isEmpty ? errorString(errstr)
                : errorString(errstr).replacing("\"\(value)\"", with: "\"<value>\"")
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                             message: "\(kind) \"\(key)\": \(detail)")
        }
    }
    return conf
}

/// Creates a handle, taking ownership of `conf` in every case (librdkafka frees it only on success).
func makeHandle(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                         message: "rd_kafka_new: \(errorString(errstr))")
    }
    return rk
}

/// The NUL-terminated text librdkafka wrote into an `errstr` buffer.
func errorString(_ buf: [CChar]) -> String {
    buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// An owned `rd_kafka_topic_partition_list_t`, destroyed in `deinit`.
/// Invariant: `ptr` is valid for the object's lifetime and is never handed out beyond one C call.
final class PartitionList {
    let ptr: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int) {
        guard let p = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1))) else {
            fatalError("rd_kafka_topic_partition_list_new returned NULL")
        }
        ptr = p
    }

    /// Takes ownership of a list returned by librdkafka (e.g. from `rd_kafka_assignment`).
    init(adopting p: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) { ptr = p }

    convenience init(_ partitions: [TopicPartition], offset: Int64 = KafkaOffset.invalid) {
        self.init(capacity: partitions.count)
        for tp in partitions { add(tp.topic, tp.partition, offset) }
    }

    convenience init(_ offsets: [TopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for tpo in offsets { add(tpo.topic, tpo.partition, tpo.offset) }
    }

    deinit { rd_kafka_topic_partition_list_destroy(ptr) }

    func add(_ topic: String, _ partition: Int32, _ offset: Int64) {
        guard let elem = rd_kafka_topic_partition_list_add(ptr, topic, partition) else {
            fatalError("rd_kafka_topic_partition_list_add returned NULL")
        }
        elem.pointee.offset = offset
    }

    var count: Int { Int(ptr.pointee.cnt) }

    /// The entries, in list order.
    var offsets: [TopicPartitionOffset] { Self.entries(ptr) }

    /// The entries of a list this code does not own (e.g. one lent to a callback).
    static func entries(_ p: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        (0..<Int(p.pointee.cnt)).map { i in
            let e = p.pointee.elems[i]
            return TopicPartitionOffset(topic: String(cString: e.topic), partition: e.partition, offset: e.offset)
        }
    }

    /// The first per-partition error, if any (librdkafka reports some failures only there).
    func firstError(_ what: String) -> KafkaError? {
        for i in 0..<count {
            let e = ptr.pointee.elems[i]
            if e.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError(e.err, "\(what) \(String(cString: e.topic))[\(e.partition)]")
            }
        }
        return nil
    }
}

/// Carries C handles into a closure that runs on another thread.
/// `@unchecked Sendable` because the sender gives the handles up: after the hand-off only the
/// receiving closure touches them.
struct HandedOverHandles: @unchecked Sendable {
    let rk: OpaquePointer
    let queue: OpaquePointer?
}
