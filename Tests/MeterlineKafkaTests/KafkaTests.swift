import MeterlineKafka
import Testing

// All tests run against librdkafka's in-process mock cluster on 127.0.0.1 (no fakes). Every wait
// is "poll until a condition, with a generous bound", then assert — never a sleep.

/// Polls `consumer` until `done()` holds or `seconds` pass; returns whether `done()` held.
func pollUntil(
    _ consumer: KafkaConsumer, seconds: Int, max: Int = 500,
    _ done: () -> Bool, _ body: (KafkaMessageView) throws -> Void = { _ in }
) throws -> Bool {
    let end = ContinuousClock.now + .seconds(seconds)
    while !done() {
        if ContinuousClock.now >= end { return false }
        _ = try consumer.poll(max: max, timeoutMs: 100, body)
    }
    return true
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func text(_ b: UnsafeRawBufferPointer) -> String { String(decoding: b, as: UTF8.self) }

@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaTests {
    let base: Int64 = 1_700_000_000_000

    @Test func produceAndConsumeByManualAssignment() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        let topic = "usage"
        try cluster.createTopic(topic, partitions: 4)

        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers, "linger.ms": "5"])
        let total = 1_000
        for i in 0..<total {
            try producer.produce(
                topic: topic, key: bytes("k-\(i)"), value: bytes("v-\(i)"),
                headers: [("ce_id", bytes("id-\(i)")), ("ce_type", bytes("usage.v1"))],
                timestampMs: base + Int64(i))
        }
        try producer.flush(timeoutMs: 30_000)
        #expect(producer.deliveredCount == total)
        #expect(producer.deliveryErrorCount == 0)
        #expect(producer.outstandingCount == 0)

        let consumer = try KafkaConsumer(config: [
            "bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10", "enable.partition.eof": "true",
        ])
        defer { consumer.close(timeoutMs: 5_000) }
        let partitions = (0..<Int32(4)).map { TopicPartition(topic: topic, partition: $0) }
        try consumer.assign(partitions.map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: KafkaOffset.beginning) })
        #expect(Set(try consumer.assignment()) == Set(partitions))

        var seen = [Bool](repeating: false, count: total)
        var seenCount = 0
        var lastIndex: [Int32: Int] = [:]
        var nextOffset: [Int32: Int64] = [:]
        var problems: [String] = []
        let complete = try pollUntil(consumer, seconds: 30, { seenCount == total && consumer.eofPartitions.count == 4 }) { m in
            #expect(m.topic == topic)
            let key = text(m.key)
            guard key.hasPrefix("k-"), let i = Int(key.dropFirst(2)), (0..<total).contains(i) else {
                problems.append("bad key \(key)")
                return
            }
            if seen[i] { problems.append("duplicate \(i)") }
            seen[i] = true
            seenCount += 1
            if text(m.value) != "v-\(i)" { problems.append("value of \(i): \(text(m.value))") }
            if m.timestampMs != base + Int64(i) { problems.append("timestamp of \(i): \(m.timestampMs)") }
            if m.header("ce_id").map(text) != "id-\(i)" { problems.append("ce_id of \(i)") }
            if m.header("ce_type").map(text) != "usage.v1" { problems.append("ce_type of \(i)") }
            if m.header("ce_missing") != nil { problems.append("phantom header on \(i)") }
            var names: [String] = []
            m.forEachHeader { name, _ in names.append(name) }
            if names != ["ce_id", "ce_type"] { problems.append("headers of \(i): \(names)") }
            // Per-partition order: offsets dense from 0, producer order preserved.
            if m.offset != nextOffset[m.partition, default: 0] { problems.append("offset gap at \(m.partition)@\(m.offset)") }
            nextOffset[m.partition] = m.offset + 1
            if let last = lastIndex[m.partition], last >= i { problems.append("order in \(m.partition): \(last) then \(i)") }
            lastIndex[m.partition] = i
        }
        #expect(complete, "consumed \(seenCount) of \(total), eof \(consumer.eofPartitions)")
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        #expect(seen.allSatisfy { $0 })
        #expect(lastIndex.count == 4, "keys should spread over all 4 partitions")

        var highSum: Int64 = 0
        for p in partitions {
            let (low, high) = try consumer.watermarks(topic: topic, partition: p.partition, timeoutMs: 10_000)
            #expect(low == 0)
            #expect(high == nextOffset[p.partition])
            highSum += high
        }
        #expect(highSum == Int64(total))
        let positions = try consumer.position(partitions)
        #expect(positions.map(\.offset) == partitions.map { nextOffset[$0.partition]! })
        #expect(try consumer.partitionCount(topic: topic, timeoutMs: 10_000) == 4)
    }

    @Test func consumerGroupCommitsAndResumes() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        let topic = "events"
        try cluster.createTopic(topic, partitions: 3)
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers])
        let total = 300
        for i in 0..<total {
            try producer.produce(topic: topic, key: bytes("customer-\(i % 17)"), value: bytes("\(i)"))
        }
        try producer.flush(timeoutMs: 30_000)

        let group: [String: String] = [
            "bootstrap.servers": cluster.bootstrapServers, "group.id": "billing",
            "session.timeout.ms": "6000", "fetch.wait.max.ms": "10",
            "auto.offset.reset": "earliest", "enable.auto.commit": "false",
        ]
        let partitions = (0..<Int32(3)).map { TopicPartition(topic: topic, partition: $0) }
        var highs: [Int64] = []
        var assigned: [[TopicPartition]] = []
        var revoked: [[TopicPartition]] = []
        let first = try KafkaConsumer(config: group, onAssign: { assigned.append($0) }, onRevoke: { revoked.append($0) })
        try first.subscribe([topic])
        var next: [Int32: Int64] = [:]
        var count = 0
        let complete = try pollUntil(first, seconds: 60, { count >= total }) { m in
            #expect(m.offset == next[m.partition, default: 0], "dense, in order")
            next[m.partition] = m.offset + 1
            count += 1
        }
        #expect(complete, "group consumer got \(count) of \(total) (join takes ~3 s)")
        #expect(count == total)
        #expect(Set(try first.assignment()) == Set(partitions))
        for p in partitions {
            highs.append(try first.watermarks(topic: topic, partition: p.partition, timeoutMs: 10_000).high)
        }
        try first.commit(next.map { TopicPartitionOffset(topic: topic, partition: $0.key, offset: $0.value) })
        #expect(try first.committed(partitions, timeoutMs: 10_000).map(\.offset) == highs)
        #expect(assigned.map(Set.init) == [Set(partitions)], "one assignment of all partitions")
        #expect(revoked.isEmpty)
        try first.unsubscribe()
        #expect(try pollUntil(first, seconds: 20, { !revoked.isEmpty }), "revocation after unsubscribe")
        #expect(revoked.map(Set.init) == [Set(partitions)])
        #expect(try first.assignment().isEmpty)
        let closedCleanly = first.close(timeoutMs: 15_000)
        #expect(closedCleanly, "first consumer close exceeded its bound")

        // A second member of the same group sees the commits and resumes from them.
        var resumeConfig = group
        resumeConfig["enable.partition.eof"] = "true"
        let second = try KafkaConsumer(config: resumeConfig)
        defer { second.close(timeoutMs: 5_000) }
        let committed = try second.committed(partitions, timeoutMs: 10_000)
        #expect(committed == zip(partitions, highs).map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: $1) })
        try second.assign(partitions.map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: KafkaOffset.stored) })
        var again = 0
        let atEnd = try pollUntil(second, seconds: 20, { second.eofPartitions.count == 3 }) { _ in again += 1 }
        #expect(atEnd, "second consumer reached EOF on \(second.eofPartitions)")
        #expect(again == 0, "nothing after the committed offsets")
    }

    /// Transactions through the mock: committed records with their offsets, and a misuse reported as a transaction
    /// error, not a crash. (The mock does not implement abort or read_committed — KAFKA.md — so neither is asserted.)
    @Test func transactionsCommitRecordsAndOffsets() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        try cluster.createTopic("in", partitions: 1)
        try cluster.createTopic("out", partitions: 1)
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers, "transactional.id": "t-1"])
        try producer.initTransactions(timeoutMs: 30_000)
        #expect(throws: KafkaTransactionError.self) { try producer.commitTransaction(timeoutMs: 5_000) }  // none open
        let consumer = try KafkaConsumer(config: ["bootstrap.servers": cluster.bootstrapServers, "group.id": "tx", "session.timeout.ms": "6000"])
        defer { consumer.close(timeoutMs: 5_000) }
        try producer.beginTransaction()
        for i in 0..<3 { try producer.produce(topic: "out", partition: 0, key: nil, value: Array("r\(i)".utf8)) }
        try producer.sendOffsetsToTransaction([TopicPartitionOffset(topic: "in", partition: 0, offset: 7)], consumer: consumer, timeoutMs: 30_000)
        try producer.commitTransaction(timeoutMs: 30_000)
        let reader = try KafkaConsumer(config: ["bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10"])
        defer { reader.close(timeoutMs: 5_000) }
        try reader.assign([TopicPartitionOffset(topic: "out", partition: 0, offset: 0)])
        var values: [String] = []
        #expect(try pollUntil(reader, seconds: 20, { values.count >= 3 }) { values.append(String(decoding: $0.value, as: UTF8.self)) })
        #expect(values == ["r0", "r1", "r2"])
    }

    /// The high watermark the last fetch reported (consumer lag without a broker request): unknown before any
    /// fetch, the partition's end after one, while the consumer is still behind it.
    @Test func cachedHighWatermarkComesWithFetches() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        try cluster.createTopic("lag", partitions: 1)
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers])
        for i in 0..<100 { try producer.produce(topic: "lag", partition: 0, key: nil, value: Array("m\(i)".utf8)) }
        try producer.flush(timeoutMs: 10_000)
        let consumer = try KafkaConsumer(config: ["bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10"])
        defer { consumer.close(timeoutMs: 5_000) }
        #expect(consumer.cachedHighWatermark(topic: "lag", partition: 0) == nil, "nothing fetched yet")
        try consumer.assign([TopicPartitionOffset(topic: "lag", partition: 0, offset: 0)])
        var got = 0
        #expect(try pollUntil(consumer, seconds: 20, max: 10, { got >= 10 }) { _ in got += 1 })
        #expect(consumer.cachedHighWatermark(topic: "lag", partition: 0) == 100)
    }

    @Test func offsetsForTimesFallsBackToBinarySearch() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        let topic = "times"
        try cluster.createTopic(topic, partitions: 4)  // partition 3 stays empty
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers])
        // Non-decreasing timestamps per partition; partition 0 repeats each timestamp twice so
        // "earliest offset with ts >= T" is tested on ties.
        let counts = [40, 25, 1]
        func ts(_ p: Int, _ i: Int) -> Int64 {
            p == 0 ? base + Int64(i / 2) * 10 : base + Int64(p * 3 + i * 10)
        }
        for (p, n) in counts.enumerated() {
            for i in 0..<n {
                try producer.produce(topic: topic, partition: Int32(p), key: nil, value: bytes("\(p)/\(i)"), timestampMs: ts(p, i))
            }
        }
        try producer.flush(timeoutMs: 30_000)

        let consumer = try KafkaConsumer(config: ["bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10"])
        defer { consumer.close(timeoutMs: 5_000) }
        func expected(_ t: Int64) -> [Int64] {
            counts.indices.map { p in Int64((0..<counts[p]).first { ts(p, $0) >= t } ?? counts[p]) } + [0]
        }
        func lookup(_ t: Int64) throws -> [Int64] {
            let r = try consumer.offsetsForTimes(topic: topic, timestampMs: t, timeoutMs: 30_000)
            #expect(r.map(\.partition) == [0, 1, 2, 3])
            #expect(r.allSatisfy { $0.topic == topic })
            return r.map(\.offset)
        }
        for t in [base + 101, base + 100, base + 50, base + 133, base + 1, base] {
            #expect(try lookup(t) == expected(t), "timestamp base+\(t - base)")
        }
        #expect(try lookup(base + 100) == [20, 10, 1, 0])  // exact hit on a tie → first of the pair
        #expect(try lookup(base - 1_000) == [0, 0, 0, 0])  // before everything → low watermarks
        #expect(try lookup(base + 1_000_000) == [40, 25, 1, 0])  // after everything → high watermarks
    }

    @Test func throwingBodyGivesMessagesBack() throws {
        struct Stop: Error {}
        let cluster = try MockCluster()
        defer { cluster.close() }
        try cluster.createTopic("redo", partitions: 1)
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers])
        for i in 0..<20 { try producer.produce(topic: "redo", key: nil, value: bytes("\(i)")) }
        try producer.flush(timeoutMs: 30_000)

        let consumer = try KafkaConsumer(config: ["bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10"])
        defer { consumer.close(timeoutMs: 5_000) }
        try consumer.assign([TopicPartitionOffset(topic: "redo", partition: 0, offset: KafkaOffset.beginning)])
        var offsets: [Int64] = []
        var thrown = false
        let end = ContinuousClock.now + .seconds(30)
        while offsets.count < 20 && ContinuousClock.now < end {
            do {
                _ = try consumer.poll(max: 100, timeoutMs: 100) { m in
                    if m.offset == 7 && !thrown {
                        thrown = true
                        throw Stop()
                    }
                    #expect(m.key.isEmpty)
                    #expect(text(m.value) == "\(m.offset)")
                    offsets.append(m.offset)
                }
            } catch is Stop {}
        }
        #expect(thrown)
        #expect(offsets == Array(0..<20), "offset 7 onwards redelivered after the throw")
        #expect(consumer.lastError == nil)
    }

    @Test func producerRetriesOnFullQueueAndReportsFailures() throws {
        let cluster = try MockCluster()
        defer { cluster.close() }
        try cluster.createTopic("small", partitions: 1)
        // A 10-message queue: 500 produce calls must hit QUEUE_FULL and be retried, not dropped.
        let producer = try KafkaProducer(config: [
            "bootstrap.servers": cluster.bootstrapServers, "queue.buffering.max.messages": "10",
        ])
        for i in 0..<500 { try producer.produce(topic: "small", key: nil, value: bytes("\(i)")) }
        try producer.flush(timeoutMs: 30_000)
        #expect(producer.deliveredCount == 500)
        #expect(producer.deliveryErrorCount == 0)

        // A partition that does not exist fails either at produce or at delivery; never silently.
        var failed = false
        do {
            try producer.produce(topic: "small", partition: 7, key: nil, value: bytes("lost"))
            try producer.flush(timeoutMs: 30_000)
        } catch let error as KafkaError {
            failed = true
            #expect(error.message.contains("small"), "\(error)")
        }
        #expect(failed)
        try producer.flush(timeoutMs: 1_000)  // the failure was reported once
    }

    @Test func badConfigurationNamesTheKey() throws {
        do {
            _ = try KafkaProducer(config: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"])
            Issue.record("producer accepted an unknown property")
        } catch let error as KafkaError {
            #expect(error.message.contains("no.such.property"), "\(error)")
            #expect(error.description.hasPrefix("kafka: "))
            #expect(error.code == KafkaError.Code.invalidArgument)
        }
        do {
            _ = try KafkaConsumer(config: ["session.timeout.ms": "banana"])
            Issue.record("consumer accepted an invalid value")
        } catch let error as KafkaError {
            #expect(error.message.contains("session.timeout.ms"), "\(error)")
            #expect(!error.message.contains("banana"), "values are not echoed (they may be secrets)")
        }
        let groupless = try KafkaConsumer(config: ["bootstrap.servers": "127.0.0.1:1"])
        #expect(throws: KafkaError.self) { try groupless.subscribe(["t"]) }
        groupless.close(timeoutMs: 5_000)
        #expect(throws: KafkaError.self) { try groupless.assignment() }
    }
}
