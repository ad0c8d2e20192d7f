import MeterlineConfig
import MeterlineCore
import MeterlinePipeline
import Testing

/// The `state` changelog: per checkpoint, only what changed; a restore from the last value of every key equals
/// the state that wrote it.
@Suite struct ChangelogTests {
    /// Six weeks of events in 3 partitions: windows close, October's period closes (its windows are removed),
    /// late events revise closed windows, a 2-day dedup horizon expires ids, earlier messages are replayed.
    static func workload(seed: UInt64, count: Int = 3_000) -> [Input] {
        var g = SeededGenerator(seed: seed)
        var inputs: [Input] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<count {
            if i % 53 == 52 { inputs.append(inputs[Int(g.next() % UInt64(inputs.count))]); continue }
            clock += Int64(g.next() % 40) * 60_000_000
            let subject = "c-\(g.next() % 25)"
            let late = g.next() % 25 == 0 ? 2 * UTC.microsPerHour : 0
            let time = RFC3339.format(micros: clock - late)
            let json = g.next() % 5 == 0
                ? #"{"specversion":"1.0","id":"g-\#(i)","source":"s","type":"gauge","subject":"\#(subject)","time":"\#(time)","data":{"v":\#(g.next() % 50)}}"#
                : tokens("id-\(i)", subject, time, Int(g.next() % 700))
            inputs.append(Input(partition: Int32(subject.utf8.last! % 3), json: json))
        }
        return inputs
    }

    static func config() throws -> Configuration {
        var c = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        c.settings.dedupHorizonMicros = 2 * UTC.microsPerDay
        return c
    }

    static func pipeline(_ c: Configuration) -> Pipeline {
        let p = Pipeline(config: c)
        p.includeState = true
        // Small records and bases, so the test sees records cut in parts and bases replaced.
        p.changelogRecordBytes = 4_000
        p.changelogRebaseMinBytes = 20_000
        return p
    }

    static func feed(_ p: Pipeline, _ inputs: ArraySlice<Input>) {
        for i in inputs.indices {
            var bytes = Array(inputs[i].json.utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: inputs[i].partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
    }

    /// What a compacted `state` topic holds: the last value per key, tombstoned keys removed.
    struct Topic {
        var partitions: [Int32: [String: [UInt8]]] = [:]
        var written = 0
        var tombstones = 0
        var bytes = 0
        var byKind: [String: Int] = [:]
        mutating func apply(_ out: CheckpointOutput) {
            for (p, records) in out.state {
                for r in records {
                    written += 1
                    if let v = r.value { partitions[p, default: [:]][r.key] = v; bytes += v.count; byKind[String(r.key.prefix(3)), default: 0] += v.count } else {
                        tombstones += 1
                        #expect(partitions[p]?[r.key]?.count == r.droppedLength, "a tombstone names the length of the value it ends")
                        partitions[p]?[r.key] = nil
                    }
                }
            }
        }
    }

    @Test(arguments: [UInt64(3), 11])
    func restoreFromTheChangelogEqualsTheStateThatWroteIt(seed: UInt64) throws {
        let c = try ChangelogTests.config()
        let inputs = ChangelogTests.workload(seed: seed)
        let p = ChangelogTests.pipeline(c)
        var topic = Topic()
        var checked = 0
        for start in stride(from: 0, to: inputs.count, by: 150) {
            ChangelogTests.feed(p, inputs[start..<min(inputs.count, start + 150)])
            let out = p.checkpoint()
            topic.apply(out)
            guard start % 600 == 450 else { continue }
            // Another process restores every partition from the topic alone: the same state, byte for byte…
            let q = ChangelogTests.pipeline(c)
            for (part, records) in topic.partitions { try q.restore(partition: part, changelog: records) }
            for part in p.partitions {
                let same = q.snapshot(partition: part) == p.snapshot(partition: part)
                #expect(same, "seed \(seed), partition \(part) after \(start + 150) messages")
            }
            // …that goes on exactly as the original: the same outputs and the same next changelog records.
            let rest = inputs[(start + 150)..<min(inputs.count, start + 450)]
            ChangelogTests.feed(p, rest); ChangelogTests.feed(q, rest)
            let (a, b) = (p.checkpoint(), q.checkpoint())
            topic.apply(a)
            #expect(a.billing.map { $0.json() } == b.billing.map { $0.json() }, "seed \(seed)")
            let sameRecords = a.state.map(\.partition) == b.state.map(\.partition) && zip(a.state, b.state).allSatisfy { $0.records == $1.records }
            #expect(sameRecords, "seed \(seed): next changelog")
            checked += 1
            break
        }
        #expect(checked == 1)
        #expect(p.counters.balanced)
    }

    @Test func theWholeRunRestoredAtEveryCheckpointAndTheChangelogStaysSmall() throws {
        let c = try ChangelogTests.config()
        let inputs = ChangelogTests.workload(seed: 21)
        let p = ChangelogTests.pipeline(c)
        var topic = Topic()
        var kinds = Set<String>()
        var snapshots = 0
        for start in stride(from: 0, to: inputs.count, by: 100) {
            ChangelogTests.feed(p, inputs[start..<min(inputs.count, start + 100)])
            let out = p.checkpoint()
            topic.apply(out)
            for (_, records) in out.state { for r in records { kinds.insert(String(r.key.prefix(3)) + (r.value == nil ? "†" : "")) } }
            let q = ChangelogTests.pipeline(c)
            for (part, records) in topic.partitions { try q.restore(partition: part, changelog: records) }
            for part in p.partitions {
                let same = q.snapshot(partition: part) == p.snapshot(partition: part)
                #expect(same, "after \(start + 100) messages, partition \(part)")
            }
            snapshots += p.partitions.reduce(0) { $0 + p.snapshot(partition: $1)!.count }
        }
        // Ids expire (dedup horizon), October's windows go (period closed), bases are replaced: all leave tombstones.
        #expect(kinds.isSuperset(of: ["ids", "win", "met", "ids†", "win†"]), "\(kinds.sorted())")
        #expect(p.counters.revisions > 0 && p.counters.duplicate > 0, "late data and duplicates")
        // Checkpoints write deltas (and now and then a base), not the state: here each checkpoint spans a day and a
        // half of event time, so a delta holds many windows, and still the whole changelog is under half of what a
        // snapshot per checkpoint would have written.
        #expect(topic.bytes * 2 < snapshots, "changelog \(topic.bytes) B \(topic.byKind) vs full snapshots \(snapshots) B")
        // What the topic keeps stays near the live state (bases replace deltas; expired ids are tombstoned).
        let kept = topic.partitions.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
        let live = p.partitions.reduce(0) { $0 + p.snapshot(partition: $1)!.count }
        #expect(kept < 4 * live + 3 * 40_000, "kept \(kept) B for \(live) B of state")
    }

    @Test func aCheckpointOfAFewMessagesWritesAFewRecords() throws {
        let c = try ChangelogTests.config()
        let p = Pipeline(config: c)
        p.includeState = true
        let inputs = ChangelogTests.workload(seed: 22)
        ChangelogTests.feed(p, inputs[..<2_990])
        let first = p.checkpoint().state.flatMap(\.records).reduce(0) { $0 + ($1.value?.count ?? 0) }
        ChangelogTests.feed(p, inputs[2_990...])
        let next = p.checkpoint().state.flatMap(\.records)
        let written = next.reduce(0) { $0 + ($1.value?.count ?? 0) }
        let state = p.partitions.reduce(0) { $0 + p.snapshot(partition: $1)!.count }
        #expect(first > state / 2, "the first changelog holds the state: \(first) B for \(state) B")
        #expect(written * 20 < state, "\(written) B written for 10 messages, \(state) B of state")
        #expect(next.count <= 3 * 3 + 3, "at most ids, win and meta per partition, and a few more for days: \(next.map(\.key))")
    }

    @Test func aPartitionWithNothingNewWritesNothing() throws {
        let c = try ChangelogTests.config()
        let p = ChangelogTests.pipeline(c)
        let inputs = ChangelogTests.workload(seed: 5, count: 300).filter { $0.partition == 1 }
        ChangelogTests.feed(p, inputs[...])
        #expect(p.checkpoint().state.map(\.partition) == [1])
        #expect(p.checkpoint().state.isEmpty)
    }

    @Test func aMissingOrDamagedRecordIsAnErrorAndOrphansAreTombstoned() throws {
        let c = try ChangelogTests.config()
        let p = ChangelogTests.pipeline(c)
        ChangelogTests.feed(p, ChangelogTests.workload(seed: 8, count: 900)[...])
        var topic = Topic()
        topic.apply(p.checkpoint())
        let records = topic.partitions[0]!
        #expect(records.keys.contains("meta") && records.keys.contains { $0.hasPrefix("ids/") } && records.keys.contains { $0.hasPrefix("win/") })
        for key in records.keys.sorted() {
            var missing = records
            missing[key] = nil
            #expect(throws: StateError.self, "without \(key)") { try ChangelogTests.pipeline(c).restore(partition: 0, changelog: missing) }
            var g = SeededGenerator(seed: UInt64(key.utf8.count))
            for _ in 0..<20 {
                var bad = records
                var v = bad[key]!
                v[Int(g.next() % UInt64(v.count))] ^= UInt8(1 + g.next() % 255)
                bad[key] = v
                #expect(throws: StateError.self, "damaged \(key)") { try ChangelogTests.pipeline(c).restore(partition: 0, changelog: bad) }
            }
        }
        #expect(throws: StateError.self) { try ChangelogTests.pipeline(c).restore(partition: 1, changelog: records) }
        // A key meta does not list (a write torn between meta and its tombstones) is tombstoned by the next changelog.
        var torn = records
        torn["win/99.0"] = [1, 2, 3]
        let q = ChangelogTests.pipeline(c)
        try q.restore(partition: 0, changelog: torn)
        ChangelogTests.feed(q, ChangelogTests.workload(seed: 8, count: 1_000)[900...].filter { $0.partition == 0 }[...])
        let next = q.checkpoint().state.first { $0.partition == 0 }!.records
        #expect(next.contains(StateRecord(key: "win/99.0", value: nil, droppedLength: 3)))
    }
}
