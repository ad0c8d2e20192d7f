internal import CRdKafka

/// A consumed message, lent to the closure passed to `KafkaConsumer.poll`.
///
/// - Warning: This is a plain struct holding *borrowed* pointers into a librdkafka message that is
///   destroyed as soon as the closure returns. `key`, `value` and the buffers handed out by
///   `header(_:)` / `forEachHeader(_:)` are valid only inside that closure: copy what you keep
///   (e.g. `Array(view.value)`), never store the view or its buffers. It is not `Sendable`.
///
/// Invariant: `offset >= 0`; `key` is empty when the message has no key; `timestampMs` is -1 when
/// the message carries no timestamp.
public struct KafkaMessageView {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: UnsafeRawBufferPointer
    public let value: UnsafeRawBufferPointer
    public let timestampMs: Int64
    /// The borrowed `rd_kafka_message_t *` (kept opaque so no C type enters the public layout).
    private let message: OpaquePointer

    init(message rkm: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) {
        let m = rkm.pointee
        self.topic = topic
        partition = m.partition
        offset = m.offset
        key = UnsafeRawBufferPointer(start: m.key, count: m.key == nil ? 0 : m.key_len)
        value = UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len)
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        timestampMs = rd_kafka_message_timestamp(rkm, &tsType)
        message = OpaquePointer(rkm)
        assert(offset >= 0, "consumed message without an offset")
    }

    private var headers: OpaquePointer? {
        var hdrs: OpaquePointer?
        let err = rd_kafka_message_headers(UnsafePointer<rd_kafka_message_t>(message), &hdrs)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? hdrs : nil
    }

    /// The value of the *last* header named `name` (Kafka allows repeats), or nil if absent.
    /// A header with a null value yields an empty buffer. Valid only inside the poll closure.
    public func header(_ name: String) -> UnsafeRawBufferPointer? {
        guard let hdrs = headers else { return nil }
        var val: UnsafeRawPointer?
        var size = 0
        let err = rd_kafka_header_get_last(hdrs, name, &val, &size)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return UnsafeRawBufferPointer(start: val, count: val == nil ? 0 : size)
    }

    /// Calls `body` for every header in wire order. Builds one `String` per header name.
    public func forEachHeader(_ body: (String, UnsafeRawBufferPointer) -> Void) {
        guard let hdrs = headers else { return }
        var idx = 0
        while true {
            var name: UnsafePointer<CChar>?
            var val: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(hdrs, idx, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  let name else { return }
            body(String(cString: name), UnsafeRawBufferPointer(start: val, count: val == nil ? 0 : size))
            idx += 1
        }
    }
}

@available(*, unavailable, message: "KafkaMessageView borrows C memory valid only inside the poll closure")
extension KafkaMessageView: Sendable {}
