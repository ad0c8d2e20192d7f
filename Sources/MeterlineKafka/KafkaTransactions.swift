internal import CRdKafka

// Owns: the transactional producer API (KIP-98), with consumer offsets committed inside the transaction
// (KIP-447: the consumer group's metadata fences a stale instance after a rebalance).

/// A transaction call failed. `requiresAbort`: the transaction must be aborted before the next one; `fatal`:
/// the producer is unusable (a newer instance with the same `transactional.id` fenced it, for one).
public struct KafkaTransactionError: Error, CustomStringConvertible, Sendable {
    public var error: KafkaError
    public var requiresAbort: Bool
    public var fatal: Bool
    public var description: String { "\(error)\(fatal ? " (fatal)" : requiresAbort ? " (abort required)" : "")" }
}

extension KafkaProducer {
    /// Readies the producer for transactions (its config must name a `transactional.id`); fences older producers
    /// with the same id and aborts what they left open.
    public func initTransactions(timeoutMs: Int32) throws {
        try check(rd_kafka_init_transactions(rk, Int32(timeoutMs)), "init transactions")
    }

    public func beginTransaction() throws {
        try check(rd_kafka_begin_transaction(rk), "begin transaction")
    }

    /// Adds the consumer's next offsets to the open transaction: they are committed with it, or not at all.
    public func sendOffsetsToTransaction(_ offsets: [TopicPartitionOffset], consumer: KafkaConsumer, timeoutMs: Int32) throws {
        guard !offsets.isEmpty else { return }
        guard let metadata = rd_kafka_consumer_group_metadata(try consumer.handle()) else {
            throw KafkaError(code: -1, message: "consumer group metadata: the consumer has no group")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        let list = PartitionList(offsets)
        try check(rd_kafka_send_offsets_to_transaction(rk, list.ptr, metadata, Int32(timeoutMs)), "send offsets to transaction")
    }

    /// Flushes and commits the open transaction.
    public func commitTransaction(timeoutMs: Int32) throws {
        try check(rd_kafka_commit_transaction(rk, Int32(timeoutMs)), "commit transaction")
    }

    public func abortTransaction(timeoutMs: Int32) throws {
        try check(rd_kafka_abort_transaction(rk, Int32(timeoutMs)), "abort transaction")
    }

    private func check(_ error: OpaquePointer?, _ what: String) throws {
        guard let error else { return }
        let abort = rd_kafka_error_txn_requires_abort(error) != 0
        let fatal = rd_kafka_error_is_fatal(error) != 0
        throw KafkaTransactionError(error: KafkaError(consuming: error, what), requiresAbort: abort, fatal: fatal)
    }
}
