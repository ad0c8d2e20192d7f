internal import CRdKafka
internal import Synchronization

/// librdkafka's in-process mock Kafka cluster (`rdkafka_mock.h`): real protocol on 127.0.0.1,
/// ephemeral ports, no retention beyond ~5 MB per partition, no transactions (see KAFKA.md).
///
/// Invariant: while open, `bootstrapServers` names live brokers; after `close()` (idempotent, also
/// run by `deinit`) the brokers are gone and `createTopic` throws.
/// `@unchecked Sendable`: all state is behind a `Mutex`, and the mock cluster's C API is
/// thread-safe (it posts operations to the cluster's own thread).
public final class MockCluster: @unchecked Sendable {
    /// Handles: the mock cluster and the producer handle that hosts it (the mock API needs one).
    /// `@unchecked Sendable`: only ever read or swapped out under `handles`' lock.
    private struct Handles: @unchecked Sendable {
        var cluster: OpaquePointer?
        var rk: OpaquePointer?
    }

    private let handles: Mutex<Handles>
    /// Comma-separated `host:port` list, captured at creation.
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers.
    public init(brokers: Int32 = 1) throws {
        precondition(brokers >= 1, "a mock cluster needs at least one broker")
        // The host handle never connects anywhere: no bootstrap servers; keep its logs quiet.
        let conf = try makeConf(["log_level": "3"])
        let rk = try makeHandle(RD_KAFKA_PRODUCER, conf)
        guard let cluster = rd_kafka_mock_cluster_new(rk, brokers) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "rd_kafka_mock_cluster_new failed")
        }
        let servers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        precondition(!servers.isEmpty, "mock cluster without bootstrap servers")
        bootstrapServers = servers
        handles = Mutex(Handles(cluster: cluster, rk: rk))
    }

    deinit { close() }

    /// Creates `name` with the given partition count (there is no Admin-API topic creation on the
    /// mock: CreateTopics times out). Throws if the topic exists or the cluster is closed.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        precondition(partitions >= 1, "partitions must be >= 1")
        precondition(replicationFactor >= 1, "replicationFactor must be >= 1")
        try handles.withLock { (h: inout Handles) throws(KafkaError) in
            guard let cluster = h.cluster else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "mock cluster is closed")
            }
            let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(err, "create topic \"\(name)\"")
            }
        }
    }

    /// Destroys the cluster and its host handle. Clients still connected see their brokers go
    /// down. Idempotent.
    public func close() {
        let taken = handles.withLock { (h: inout Handles) -> Handles in
            defer { h = Handles(cluster: nil, rk: nil) }
            return h
        }
        if let cluster = taken.cluster { rd_kafka_mock_cluster_destroy(cluster) }
        if let rk = taken.rk { rd_kafka_destroy(rk) }
    }
}
