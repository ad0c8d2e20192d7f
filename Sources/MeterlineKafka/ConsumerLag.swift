internal import CRdKafka

// Owns: what a consumer knows of its partitions' ends without asking the broker (for lag metrics).

extension KafkaConsumer {
    /// The high watermark of a partition as the last fetch response reported it (`rd_kafka_get_watermark_offsets`:
    /// no request to the broker, so cheap enough to call per checkpoint), or nil before any fetch of it.
    public func cachedHighWatermark(topic: String, partition: Int32) -> Int64? {
        guard let rk = try? handle() else { return nil }
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(rk, topic, partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return high
    }
}
