internal import CRdKafka

/// Delivery-report tallies, written by `deliveryReportCallback` on the thread that calls
/// `rd_kafka_poll`/`rd_kafka_flush`, i.e. the producer's (single) user thread.
final class DeliveryStats {
    var delivered = 0
    var failed = 0
    /// The first failure since the last `flush`, reported by `flush`.
    var firstFailure: KafkaError?
}

/// `rd_kafka_conf_set_dr_msg_cb` callback. Its opaque is the producer's `DeliveryStats`, passed
/// *unretained*: the producer keeps the stats alive and destroys the handle (so no more callbacks)
/// in `deinit` before its stored properties are released.
private func deliveryReportCallback(
    _ rk: OpaquePointer?, _ msg: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let msg, let opaque else { return }
    let stats = Unmanaged<DeliveryStats>.fromOpaque(opaque).takeUnretainedValue()
    let err = msg.pointee.err
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        stats.delivered += 1
    } else {
        stats.failed += 1
        if stats.firstFailure == nil {
            let topic = msg.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
            stats.firstFailure = KafkaError(err, "delivery to \(topic)[\(msg.pointee.partition)]")
        }
    }
}

/// A librdkafka producer.
///
/// Invariants: the C handle lives exactly as long as this object; every payload is copied at
/// `produce` (callers may reuse their buffers at once); `deliveredCount + deliveryErrorCount` only
/// grows and never exceeds the number of successful `produce` calls.
///
/// - Warning: Not thread-safe. Use each producer from one thread at a time (delivery reports run
///   inside `poll`/`flush` on the calling thread). It is `@unchecked Sendable` only so that it can
///   be handed from one task to another.
/// - Important: call `flush` before dropping the producer; `deinit` does not wait for deliveries.
public final class KafkaProducer: @unchecked Sendable {
    let rk: OpaquePointer
    private let stats = DeliveryStats()
    /// `rd_kafka_topic_t` per topic name, destroyed in `deinit` before the handle.
    private var topics: [String: OpaquePointer] = [:]
    /// Bound on QUEUE_FULL retries in `produce`: each retry polls for up to 100 ms.
    private static let queueFullRetries = 100

    /// Creates a producer; `config` goes property by property to `rd_kafka_conf_set`, and an
    /// unknown or invalid property throws a `KafkaError` naming the key.
    public init(config: [String: String]) throws {
        let conf = try makeConf(config)
        rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(stats).toOpaque())
        rk = try makeHandle(RD_KAFKA_PRODUCER, conf)
    }

    deinit {
        for (_, rkt) in topics { rd_kafka_topic_destroy(rkt) }
        rd_kafka_destroy(rk)
    }

    /// Messages acknowledged by the broker so far (as seen by `poll`/`flush`).
    public var deliveredCount: Int { stats.delivered }
    /// Messages that failed permanently so far.
    public var deliveryErrorCount: Int { stats.failed }
    /// Messages produced but not yet acknowledged or failed (includes in-flight requests).
    public var outstandingCount: Int { Int(rd_kafka_outq_len(rk)) }

    private func topicHandle(_ name: String) throws -> OpaquePointer {
        if let rkt = topics[name] { return rkt }
        guard let rkt = rd_kafka_topic_new(rk, name, nil) else {
            throw KafkaError(rd_kafka_last_error(), "topic handle for \"\(name)\"")
        }
        topics[name] = rkt
        return rkt
    }

    /// Enqueues one message; the payload, key and headers are copied (RD_KAFKA_MSG_F_COPY).
    /// `partition: nil` lets the partitioner choose (by key hash when there is a key);
    /// `timestampMs: nil` lets librdkafka stamp the current time.
    /// On QUEUE_FULL it serves delivery reports and retries, giving up after ~10 s.
    public func produce(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = [], timestampMs: Int64? = nil
    ) throws {
        precondition(partition.map { $0 >= 0 } ?? true, "partition must be >= 0 or nil")
        let rkt = try topicHandle(topic)

        var vus: [rd_kafka_vu_t] = []
        vus.reserveCapacity(7)
        func vu(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
            var v = rd_kafka_vu_t()
            v.vtype = type
            set(&v)
            vus.append(v)
        }
        vu(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = rkt }
        vu(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition ?? -1 /* RD_KAFKA_PARTITION_UA */ }
        vu(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
        vu(RD_KAFKA_VTYPE_VALUE) {
            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
            $0.u.mem.size = value.count
        }
        if let key {
            vu(RD_KAFKA_VTYPE_KEY) {
                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                $0.u.mem.size = key.count
            }
        }
        if let timestampMs { vu(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestampMs } }
        // Headers: a list we build (rd_kafka_header_add copies name and value). librdkafka owns it
        // once produceva succeeds; until then we do.
        var hdrs: OpaquePointer?
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for (name, bytes) in headers {
                let err = bytes.withUnsafeBytes { rd_kafka_header_add(hdrs, name, -1, $0.baseAddress, $0.count) }
                precondition(err == RD_KAFKA_RESP_ERR_NO_ERROR, "rd_kafka_header_add on a fresh list failed")
            }
            vu(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = hdrs }
        }

        var attempt = 0
        while true {
            guard let error = vus.withUnsafeBufferPointer({ rd_kafka_produceva(rk, $0.baseAddress, $0.count) }) else {
                return  // success: librdkafka owns the headers now
            }
            let code = rd_kafka_error_code(error)
            if code == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < Self.queueFullRetries {
                rd_kafka_error_destroy(error)
                attempt += 1
                rd_kafka_poll(rk, 100)
                continue
            }
            if let hdrs { rd_kafka_headers_destroy(hdrs) }
            throw KafkaError(consuming: error, "produce to \(topic)[\(partition.map(String.init) ?? "any")]")
        }
    }

    /// Convenience over the buffer-pointer `produce`; same semantics.
    public func produce(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8],
        headers: [(String, [UInt8])] = [], timestampMs: Int64? = nil
    ) throws {
        try value.withUnsafeBytes { v in
            if let key {
                try key.withUnsafeBytes { k in
                    try produce(topic: topic, partition: partition, key: k, value: v,
                                headers: headers, timestampMs: timestampMs)
                }
            } else {
                try produce(topic: topic, partition: partition, key: nil, value: v,
                            headers: headers, timestampMs: timestampMs)
            }
        }
    }

    /// Serves delivery reports, waiting up to `timeoutMs` for one (0: do not wait).
    public func poll(timeoutMs: Int32 = 0) {
        rd_kafka_poll(rk, timeoutMs)
    }

    /// Waits until every produced message is delivered or failed, up to `timeoutMs`.
    /// Throws if messages remain after the bound, or if any delivery failed since the previous
    /// `flush` (the error is the first such failure; `deliveryErrorCount` has the total).
    public func flush(timeoutMs: Int32) throws {
        let err = rd_kafka_flush(rk, timeoutMs)
        var errstr = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(rk, &errstr, errstr.count)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: fatal.rawValue, message: "producer fatal error: \(errorString(errstr))")
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, "flush: \(rd_kafka_outq_len(rk)) message(s) still outstanding after \(timeoutMs) ms")
        }
        if let failure = stats.firstFailure {
            stats.firstFailure = nil
            throw failure
        }
    }
}
