import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlinePipeline
import Testing

let pipelineConfigYAML = """
meters:
  - { slug: tokens, eventType: llm_tokens, aggregation: SUM, valueProperty: $.tokens, windowSize: HOUR }
  - { slug: peak, eventType: gauge, aggregation: MAX, valueProperty: $.v, windowSize: HOUR }
priceBooks:
  - id: std
    version: 1
    currency: USD
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - meter: tokens
        model: graduated
        minimum: "100"
        tiers:
          - { upTo: "1000", unitAmount: "0.01", flatAmount: "1" }
          - { upTo: null, unitAmount: "0.005" }
      - { meter: peak, model: per_unit, unitAmount: "2" }
customers:
  - { subject: "c-*", entity: us, priceBook: std }
entities:
  - { id: us, currency: USD, accounts: { unbilledReceivable: "1210", usageRevenue: "4010" } }
"""

struct Input {
    var partition: Int32
    var json: String
}

func tokens(_ id: String, _ subject: String, _ time: String, _ n: Int) -> String {
    #"{"specversion":"1.0","id":"\#(id)","source":"s","type":"llm_tokens","subject":"\#(subject)","time":"\#(time)","data":{"tokens":\#(n)}}"#
}

let now = RFC3339.parseMicros("2027-01-01T00:00:00Z")!

/// Runs inputs through a pipeline, checkpointing every `every` messages; returns all outputs. With `handOver`, the
/// pipeline hands its billing events over in its buffers (`Pipeline.handsOverBilling`), taken out here.
func run(_ inputs: [Input], every: Int = .max, finishBy: Int64? = nil, config: Configuration? = nil,
         handOver: Bool = false) throws -> (billing: [BillingEvent], dlq: [DLQRecord], counters: Counters) {
    let config = try config ?? ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
    let p = Pipeline(config: config)
    p.handsOverBilling = handOver
    var billing: [BillingEvent] = []
    var dlq: [DLQRecord] = []
    func take(_ c: CheckpointOutput) {
        #expect(!handOver || c.billing.isEmpty, "a handing-over checkpoint leaves `billing` empty")
        billing += c.billing
        if let h = c.billingHandover {
            billing += [BillingEvent](unsafeUninitializedCapacity: h.count) { buffer, n in n = h.moveAll(to: buffer.baseAddress!) }
            #expect(h.count == 0)
        }
        dlq += c.dlq
    }
    for (i, input) in inputs.enumerated() {
        var bytes = Array(input.json.utf8)
        bytes.withUnsafeMutableBytes { p.process(partition: input.partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        if (i + 1) % every == 0 { take(p.checkpoint()) }
    }
    p.finish(closePeriodsEndingBy: finishBy)
    take(p.checkpoint())
    return (billing, dlq, p.counters)
}

@Suite struct PipelineTests {
    @Test func lateEventIntoAClosedWindowGivesOneRevisionWithTheExactDelta() throws {
        let inputs = [
            Input(partition: 0, json: tokens("a", "c-1", "2026-10-01T00:10:00Z", 900)),
            Input(partition: 0, json: tokens("b", "c-1", "2026-10-01T03:00:00Z", 10)),   // closes 00:00 (watermark 02:55)
            Input(partition: 0, json: tokens("c", "c-1", "2026-10-01T00:30:00Z", 200)),  // 2.5 h late, window closed
            Input(partition: 0, json: tokens("d", "c-1", "2026-10-01T05:00:00Z", 1)),    // crosses an hour: publishes the revision
        ]
        let out = try run(inputs)
        #expect(out.counters.accepted == 4 && out.counters.balanced)
        let w0 = out.billing.filter { $0.windowStart == RFC3339.parseMicros("2026-10-01T00:00:00Z")! }
        #expect(w0.count == 2)
        let first = try #require(w0.first { $0.kind == .usage })
        // 900 × 0.01 + base fee 1 = 10
        #expect(first.amount == (try Amount("10")))
        let rev = try #require(w0.first { $0.kind == .revision })
        #expect(rev.revision == 1)
        #expect(rev.quantity == (try Quantity("1100")))
        // Re-derived in window order: the 00:00 window now holds 1100 units → 1 + 10 + 100 × 0.005 = 11.5 (delta 1.5).
        #expect(rev.amountDelta == (try Amount("1.5")))
        #expect(rev.amount == (try Amount("11.5")))
        #expect(rev.id != first.id)
        // The 03:00 window's 10 units moved from tier 1 (0.1) to tier 2 (0.05): its own revision, delta −0.05.
        let w3 = out.billing.filter { $0.windowStart == RFC3339.parseMicros("2026-10-01T03:00:00Z")! }
        #expect(w3.map(\.kind) == [.usage, .revision])
        let expected3 = (try Amount("0.05"), try Amount("-0.05"))
        #expect(w3.last?.amount == expected3.0)
        #expect(w3.last?.amountDelta == expected3.1)
        // Windows the late event does not move (05:00: 1 unit at the tail either way) get no revision.
        #expect(out.billing.filter { $0.windowStart == RFC3339.parseMicros("2026-10-01T05:00:00Z")! }.count == 1)
        // All windows of the period sum to price(Q_period) = price(1111) = 1 + 10 + 111 × 0.005 = 11.555.
        let total = try out.billing.reduce(Amount.zero) { try $0.adding($1.postedAmount) }
        #expect(total == (try Amount("11.555")))
    }

    @Test func eventBeyondTheCorrectionHorizonIsDeadLettered() throws {
        let inputs = [
            Input(partition: 0, json: tokens("a", "c-1", "2026-10-01T00:10:00Z", 5)),
            Input(partition: 0, json: tokens("b", "c-1", "2026-11-05T00:00:00Z", 5)),  // watermark passes Nov 1 + 3 d
            Input(partition: 0, json: tokens("c", "c-1", "2026-10-31T23:00:00Z", 5)),  // October is closed
        ]
        let out = try run(inputs)
        #expect(out.dlq.map(\.reason) == [.latePeriodClosed])
        #expect(out.counters.latePeriodClosed[RFC3339.parseMicros("2026-10-01T00:00:00Z")!] == 1)
        #expect(out.counters.input == 3 && out.counters.accepted == 2 && out.counters.rejectedTotal == 1)
        // Closing October emitted its true-up to the minimum: 100 − (1 + 0.05).
        let trueUp = try #require(out.billing.first { $0.kind == .trueUp })
        #expect(trueUp.reason == "minimum")
        #expect(trueUp.amount == (try Amount("98.95")))
    }

    @Test func checkpointCadenceAndPartitionInterleavingDoNotChangeOutputs() throws {
        var g = SeededGenerator(seed: 7)
        var inputs: [Input] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<2_000 {
            if i >= 1_900 { inputs.append(inputs[i - 1_900]); continue } // producer retries: byte-identical resends
            clock += Int64(g.next() % 20) * 1_000_000
            let subject = "c-\(g.next() % 7)"
            let partition = Int32(subject.utf8.last! % 3) // key = subject: a subject stays in one partition
            let late = g.next() % 50 == 0 ? 3 * UTC.microsPerHour : 0
            inputs.append(Input(partition: partition, json: tokens("id-\(i)", subject, RFC3339.format(micros: clock - late), Int(g.next() % 500))))
        }
        let a = try run(inputs, every: .max)
        let b = try run(inputs, every: 13)
        // Reorder across partitions while keeping each partition's own order.
        var byPartition: [Int32: [Input]] = [:]
        for i in inputs { byPartition[i.partition, default: []].append(i) }
        let interleaved = byPartition.keys.sorted(by: >).flatMap { byPartition[$0]! }
        let c = try run(interleaved, every: 101)
        func canonical(_ x: [BillingEvent]) -> [String] { x.map { $0.json().replacingOccurrences(of: #""offset":\d+"#, with: "", options: .regularExpression) }.sorted() }
        #expect(a.counters.balanced && b.counters.balanced && c.counters.balanced, "seed 7")
        #expect(a.counters.duplicate == 100, "seed 7")
        #expect(canonical(a.billing) == canonical(b.billing), "seed 7")
        #expect(canonical(a.billing) == canonical(c.billing), "seed 7")
        // Handed over in the partitions' buffers, the same events in the same order.
        let h = try run(inputs, every: 13, handOver: true)
        #expect(h.billing.map { $0.json() } == b.billing.map { $0.json() } && h.counters == b.counters, "seed 7")
        // settings.duplicatesToDLQ: the same run also writes each duplicate to the DLQ, with its bytes; nothing else changes.
        var config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        config.settings.duplicatesToDLQ = true
        let d = try run(inputs, every: 13, config: config)
        #expect(d.dlq.count == 100 && d.dlq.allSatisfy { $0.reason == .duplicate }, "seed 7")
        #expect(Set(d.dlq.map { String(decoding: $0.payload, as: UTF8.self) }).isSubset(of: Set(inputs.map(\.json))))
        #expect(d.counters == a.counters && canonical(d.billing) == canonical(a.billing), "seed 7")
    }

    @Test func nonAdditiveMeterRatesThePeriodAggregate() throws {
        func gauge(_ id: String, _ time: String, _ v: String) -> Input {
            Input(partition: 0, json: #"{"specversion":"1.0","id":"\#(id)","source":"s","type":"gauge","subject":"c-1","time":"\#(time)","data":{"v":\#(v)}}"#)
        }
        let out = try run([gauge("a", "2026-10-01T00:10:00Z", "5"), gauge("b", "2026-10-01T01:10:00Z", "3"),
                           gauge("c", "2026-10-01T02:10:00Z", "8"), gauge("d", "2026-10-01T04:10:00Z", "1")])
        // Period MAX goes 5 → 5 → 8 → 8: amounts 10, 0, 6, 0 (per unit 2) = price(8) = 16.
        let amounts = out.billing.sorted { $0.windowStart < $1.windowStart }.map(\.amount.description)
        #expect(amounts == ["10", "0", "6", "0"])
    }
}

@Suite struct ShardedPipelineTests {
    /// Same input → byte-identical billing with 1, 2 and 8 shard threads and different batch sizes
    /// (partition routing, with late data and revisions; subject routing when windows close at end of input).
    @Test(arguments: [ShardRouting.partition, .subject])
    func shardCountAndBatchSizeDoNotChangeOutputs(routing: ShardRouting) throws {
        var config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        if routing == .subject { config.settings.allowedLatenessMicros = Int64.max / 4 }
        let seed: UInt64 = 11
        var g = SeededGenerator(seed: seed)
        var inputs: [Input] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<3_000 {
            if i % 100 == 99 { inputs.append(inputs[Int(g.next() % UInt64(inputs.count))]); continue } // retries
            clock += Int64(g.next() % 30) * 1_000_000
            let subject = "c-\(g.next() % 40)"
            let late = g.next() % 40 == 0 ? 2 * UTC.microsPerHour : 0
            inputs.append(Input(partition: Int32(subject.utf8.last! % 4), json: tokens("id-\(i)", subject, RFC3339.format(micros: clock - late), Int(g.next() % 900))))
        }
        func canonical(_ b: [BillingEvent]) -> [String] { b.map { $0.json() }.sorted() }
        let reference = try run(inputs, config: config)
        let one = Pipeline(config: config)
        for (i, input) in inputs.enumerated() {
            var bytes = Array(input.json.utf8)
            bytes.withUnsafeMutableBytes { one.process(partition: input.partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        one.finish()
        var outputs: [[String]] = []
        for (shards, batch) in [(1, 2048), (2, 7), (8, 1), (8, 333)] {
            let sp = ShardedPipeline(shards: shards, routing: routing, batchSize: batch) { Pipeline(config: config) }
            var billing: [BillingEvent] = []
            for (i, input) in inputs.enumerated() {
                var bytes = Array(input.json.utf8)
                bytes.withUnsafeMutableBytes { sp.process(partition: input.partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
                if i % 500 == 499 { billing += sp.checkpoint().flatMap(\.billing) }
            }
            billing += sp.finish().flatMap(\.billing)
            sp.stop()
            #expect(sp.counters.balanced, "seed \(seed)")
            #expect(sp.counters.input == reference.counters.input && sp.counters.duplicate == reference.counters.duplicate, "seed \(seed), \(shards) shards")
            // Conservation holds per shard and, with partition routing, per partition as one pipeline counts it.
            #expect(sp.shardCounters.count == shards && sp.shardCounters.allSatisfy(\.balanced))
            if routing == .partition {
                #expect(sp.partitionCounters == Dictionary(uniqueKeysWithValues: one.partitions.map { ($0, one.counters(partition: $0)!) }))
            }
            outputs.append(canonical(billing))
        }
        let expected = canonical(reference.billing)
        #expect(!expected.isEmpty)
        if routing == .partition { #expect(expected.contains { $0.contains(#""kind":"revision""#) }, "the input has late data") }
        for (i, o) in outputs.enumerated() {
            let same = o == expected
            #expect(same, "seed \(seed), run \(i): \(o.count) vs \(expected.count) events, first difference: \(zip(o, expected).first { $0 != $1 }.map { "\($0.0.prefix(160)) ≠ \($0.1.prefix(160))" } ?? "length")")
        }
    }
}

extension ShardedPipelineTests {
    /// Checkpoints begun without waiting (`beginCheckpoint`) and collected one barrier later give each barrier the
    /// same outputs as checkpoints waited for (`checkpoint()`): billing events, offsets, DLQ records and lineage rows,
    /// shard by shard. Rings of one batch make the router wait on full rings while a barrier is outstanding.
    @Test func begunCheckpointsEqualWaitedCheckpoints() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let seed: UInt64 = 29
        var g = SeededGenerator(seed: seed)
        var inputs: [Input] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<2_000 {
            if i % 50 == 49 { inputs.append(inputs[Int(g.next() % UInt64(inputs.count))]); continue } // retries
            if i % 211 == 210 { inputs.append(Input(partition: 1, json: "{not json")); continue }
            clock += Int64(g.next() % 60) * 1_000_000
            let subject = "c-\(g.next() % 30)"
            inputs.append(Input(partition: Int32(subject.utf8.last! % 3), json: tokens("id-\(i)", subject, RFC3339.format(micros: clock), Int(g.next() % 900))))
        }
        struct Summary: Equatable {
            var billing: [String], dlq: [String], offsets: [String], lineageRows: [Int]
        }
        func summary(_ outs: [CheckpointOutput]) -> Summary {
            Summary(billing: outs.flatMap(\.billing).map { $0.json() }, dlq: outs.flatMap(\.dlq).map { "\($0.partition)/\($0.offset)/\($0.reason)" },
                    offsets: outs.flatMap(\.offsets).map { "\($0.partition)@\($0.next)" }, lineageRows: outs.flatMap(\.lineage).map(\.events.count))
        }
        func run(begun: Bool) -> [Summary] {
            let sp = ShardedPipeline(shards: 3, routing: .partition, batchSize: 16, ringCapacity: 1) { Pipeline(config: config) }
            var barriers: [Summary] = []
            for (i, input) in inputs.enumerated() {
                var bytes = Array(input.json.utf8)
                bytes.withUnsafeMutableBytes { sp.process(partition: input.partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
                guard i % 300 == 299 else { continue }
                if begun {
                    sp.beginCheckpoint()
                    if sp.pendingCheckpoints == 2 { barriers.append(summary(sp.collectCheckpoint())) }
                } else {
                    barriers.append(summary(sp.checkpoint()))
                }
            }
            if begun {
                #expect(sp.pendingCheckpoints == 1, "seed \(seed)")
                barriers.append(summary(sp.collectCheckpoint()))
            }
            #expect(sp.pendingCheckpoints == 0, "seed \(seed)")
            barriers.append(summary(sp.finish()))
            sp.stop()
            #expect(sp.counters.balanced && sp.counters.input == inputs.count, "seed \(seed)")
            return barriers
        }
        let waited = run(begun: false), begun = run(begun: true)
        #expect(waited.count == inputs.count / 300 + 1)
        #expect(waited.contains { !$0.billing.isEmpty } && waited.contains { !$0.dlq.isEmpty } && waited.contains { $0.lineageRows.reduce(0, +) > 0 })
        for (i, (w, b)) in zip(waited, begun).enumerated() { #expect(w == b, "seed \(seed), barrier \(i)") }
        #expect(waited.count == begun.count)
    }

    /// Stopping with a begun checkpoint not collected ends the shards (its outputs are dropped) instead of waiting.
    @Test func stopWithABegunCheckpoint() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let sp = ShardedPipeline(shards: 2, routing: .partition, batchSize: 4, ringCapacity: 1) { Pipeline(config: config) }
        for i in 0..<40 {
            var bytes = Array(tokens("id-\(i)", "c-\(i % 5)", "2026-10-01T00:00:\(10 + i)Z", 10).utf8)
            bytes.withUnsafeMutableBytes { sp.process(partition: Int32(i % 2), offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        sp.beginCheckpoint()
        sp.beginCheckpoint()
        #expect(sp.pendingCheckpoints == 2)
        sp.stop()
        #expect(sp.pendingCheckpoints == 0)
        #expect(sp.counters.balanced && sp.counters.input == 40)
    }
}

@Suite struct RestoreTests {
    static func workload(seed: UInt64) -> [Input] {
        var g = SeededGenerator(seed: seed)
        var inputs: [Input] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<2_400 {
            if i % 97 == 96 { inputs.append(inputs[Int(g.next() % UInt64(inputs.count))]); continue }
            clock += Int64(g.next() % 40) * 1_000_000
            let subject = "c-\(g.next() % 25)"
            let late = g.next() % 30 == 0 ? 3 * UTC.microsPerHour : 0
            if g.next() % 5 == 0 {
                inputs.append(Input(partition: Int32(subject.utf8.last! % 3), json: #"{"specversion":"1.0","id":"g-\#(i)","source":"s","type":"gauge","subject":"\#(subject)","time":"\#(RFC3339.format(micros: clock - late))","data":{"v":\#(g.next() % 50)}}"#))
            } else {
                inputs.append(Input(partition: Int32(subject.utf8.last! % 3), json: tokens("id-\(i)", subject, RFC3339.format(micros: clock - late), Int(g.next() % 700))))
            }
        }
        return inputs
    }

    func feed(_ p: Pipeline, _ inputs: ArraySlice<Input>) {
        for i in inputs.indices {
            var bytes = Array(inputs[i].json.utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: inputs[i].partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
    }

    func canonical(_ b: [BillingEvent]) -> [String] { b.map { $0.json() }.sorted() }

    @Test func snapshotRestoreEqualsAnUninterruptedRun() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let inputs = RestoreTests.workload(seed: 5)
        let whole = Pipeline(config: config)
        feed(whole, inputs[...])
        whole.finish()
        let expected = whole.checkpoint().billing

        let first = Pipeline(config: config)
        feed(first, inputs[..<1_200])
        var billing = first.checkpoint().billing
        let snapshots = (0..<3).compactMap { p in first.snapshot(partition: Int32(p)).map { (Int32(p), $0) } }
        #expect(snapshots.count == 3)
        #expect(snapshots.map { first.snapshot(partition: $0.0)! } == snapshots.map(\.1), "snapshots are deterministic")
        // Drop everything; a new pipeline (another process) restores the partitions from bytes alone.
        let second = Pipeline(config: config)
        for (p, bytes) in snapshots { try second.restore(partition: p, from: bytes) }
        #expect(snapshots.allSatisfy { second.snapshot(partition: $0.0)! == $0.1 }, "restore is exact")
        feed(second, inputs[1_200...])
        second.finish()
        billing += second.checkpoint().billing
        #expect(canonical(billing) == canonical(expected), "seed 5")
        #expect(second.counters == whole.counters, "seed 5")
        #expect(whole.counters.revisions > 0, "the workload has late data")
    }

    @Test func crashBeforeACheckpointReplaysEveryEventExactlyOnce() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let inputs = RestoreTests.workload(seed: 9)
        let whole = Pipeline(config: config)
        feed(whole, inputs[...])
        whole.finish()
        let expected = whole.checkpoint().billing

        let p1 = Pipeline(config: config)
        feed(p1, inputs[..<800])
        let committed = p1.checkpoint()
        let state = (0..<3).map { p in (Int32(p), p1.snapshot(partition: Int32(p))!) }
        feed(p1, inputs[800..<1_700]) // processed, never checkpointed: the crash loses it
        // Restart: restore the committed state and replay from the committed offsets.
        let p2 = Pipeline(config: config)
        for (p, bytes) in state { try p2.restore(partition: p, from: bytes) }
        // Offsets here are positions in one interleaved input; every partition committed up to 800.
        #expect(committed.offsets.allSatisfy { $0.next <= 800 } && committed.offsets.contains { $0.next == 800 })
        feed(p2, inputs[800...])
        p2.finish()
        let billing = committed.billing + p2.checkpoint().billing
        #expect(canonical(billing) == canonical(expected), "seed 9")
        #expect(p2.counters.input == inputs.count, "every message counted once")
        #expect(p2.counters.duplicate == whole.counters.duplicate, "replayed ids were not seen before the crash's checkpoint")
    }

    @Test func corruptSnapshotIsAnErrorNotACrash() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let p = Pipeline(config: config)
        feed(p, RestoreTests.workload(seed: 3)[..<300])
        _ = p.checkpoint()
        let bytes = p.snapshot(partition: 0)!
        var g = SeededGenerator(seed: 1)
        for _ in 0..<300 {
            var bad = bytes
            bad[Int(g.next() % UInt64(bad.count))] ^= UInt8(1 + g.next() % 255)
            #expect(throws: StateError.self) { try Pipeline(config: config).restore(partition: 0, from: bad) }
        }
        for cut in [0, 3, 10, bytes.count / 2, bytes.count - 1] {
            #expect(throws: StateError.self) { try Pipeline(config: config).restore(partition: 0, from: Array(bytes[..<cut])) }
        }
        #expect(throws: StateError.self) { try Pipeline(config: config).restore(partition: 1, from: bytes) }
    }
}

@Suite struct OrderIndependenceTests {
    /// Streaming with late data (revisions, re-derived tiers) ends, per window, at the amounts of a run that
    /// sees every event before any window closes.
    @Test func finalWindowAmountsDoNotDependOnArrivalOrder() throws {
        let streaming = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        var atEnd = streaming
        atEnd.settings.allowedLatenessMicros = Int64.max / 4
        let inputs = RestoreTests.workload(seed: 17)
        func finalAmounts(_ config: Configuration) throws -> [String: String] {
            let out = try run(inputs, config: config)
            var last: [String: BillingEvent] = [:]
            for e in out.billing where e.kind != .trueUp {
                let k = "\(e.subject)|\(e.meter)|\(e.windowStart)"
                if (last[k]?.revision ?? -1) < e.revision { last[k] = e }
            }
            return last.mapValues { "\($0.quantity) \($0.amount)" }
        }
        let a = try finalAmounts(streaming)
        let b = try finalAmounts(atEnd)
        #expect(a.count == b.count && !a.isEmpty, "seed 17")
        let differing = a.keys.filter { a[$0] != b[$0] }.sorted()
        #expect(differing.isEmpty, "seed 17: \(differing.count) windows differ, e.g. \(differing.first.map { "\($0): \(a[$0]!) vs \(b[$0] ?? "-")" } ?? "")")
    }
}

@Suite struct IdlePartitionTests {
    /// A partition that stops receiving input keeps its windows open until it is advanced by processing time;
    /// then they close, and a later event for a closed window is late (a revision), as on an active partition.
    @Test func idlePartitionAdvancesByProcessingTime() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let p = Pipeline(config: config)
        func send(_ i: Int, _ json: String) {
            var bytes = Array(json.utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: 0, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        send(0, tokens("a", "c-1", "2026-10-01T00:10:00Z", 100))
        send(1, tokens("b", "c-1", "2026-10-01T00:20:00Z", 50))
        #expect(p.checkpoint().billing.isEmpty, "the 00:00 window is still open (watermark 00:15)")
        p.advanceIdle(partition: 0, to: RFC3339.parseMicros("2026-10-01T01:30:00Z")!)
        let closed = p.checkpoint().billing
        let q150 = try Quantity("150"), q155 = try Quantity("155")
        #expect(closed.count == 1)
        #expect(closed.first?.quantity == q150)
        p.advanceIdle(partition: 0, to: RFC3339.parseMicros("2026-10-01T01:00:00Z")!) // never backwards
        send(2, tokens("c", "c-1", "2026-10-01T00:40:00Z", 5))
        p.advanceIdle(partition: 0, to: RFC3339.parseMicros("2026-10-01T03:00:00Z")!) // crosses an hour: publishes
        let late = p.checkpoint().billing
        #expect(late.map(\.kind) == [.revision])
        #expect(late.first?.quantity == q155)
        p.advanceIdle(partition: 7, to: RFC3339.parseMicros("2026-10-02T00:00:00Z")!) // no state: nothing to do
        #expect(p.partitions == [0] && p.counters.balanced)
    }
}

@Suite struct BatchProcessingTests {
    /// `process(batch:)` (look-ahead parsing and prefetching) gives the same billing events, DLQ records, lineage,
    /// counters and state as one `process` call per message — over duplicates, late data, gauges, malformed and
    /// unknown-type messages, several partitions and batch sizes that split the look-ahead window (16) and the
    /// prefetch groups (8) anywhere: shorter than a group, one group, one more, a look-ahead and one more.
    @Test(arguments: [1, 3, 7, 8, 9, 16, 17, 64, 10_000])
    func batchEqualsOneByOne(batchSize: Int) throws {
        let seed = testSeed()
        var inputs = RestoreTests.workload(seed: seed)
        for i in stride(from: 7, to: inputs.count, by: 131) {
            inputs.insert(Input(partition: Int32(i % 3), json: i % 2 == 0 ? #"{"id":"broken"# : tokens("u-\(i)", "c-1", "2026-10-01T00:00:00Z", 1)
                                .replacingOccurrences(of: "llm_tokens", with: "unknown_type")), at: i)
        }
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let one = Pipeline(config: config), batched = Pipeline(config: config)
        for (i, input) in inputs.enumerated() {
            var bytes = Array(input.json.utf8)
            bytes.withUnsafeMutableBytes { one.process(partition: input.partition, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        var start = 0
        while start < inputs.count {
            let end = min(start + batchSize, inputs.count)
            var bytes: [UInt8] = []
            var records: [BatchRecord] = []
            for i in start..<end {
                records.append(BatchRecord(partition: inputs[i].partition, offset: Int64(i), start: Int32(bytes.count), count: Int32(inputs[i].json.utf8.count)))
                bytes += Array(inputs[i].json.utf8)
            }
            bytes.withUnsafeBytes { b in records.withUnsafeBufferPointer { batched.process(batch: b, records: $0, nowMicros: now) } }
            start = end
        }
        for p in [one, batched] { p.finish() }
        let a = one.checkpoint(), b = batched.checkpoint()
        #expect(a.billing.map { $0.json() } == b.billing.map { $0.json() }, "seed \(seed)")
        #expect(a.dlq.map { $0.json() } == b.dlq.map { $0.json() }, "seed \(seed)")
        #expect(a.lineage.map(\.events.offsets) == b.lineage.map(\.events.offsets), "seed \(seed)")
        #expect(a.lineage.map(\.events.keys) == b.lineage.map(\.events.keys), "seed \(seed)")
        #expect(one.counters == batched.counters && one.counters.balanced, "seed \(seed)")
        #expect(one.counters.rejectedTotal > 0 && one.counters.duplicate > 0, "seed \(seed): the workload exercises rejects and duplicates")
        for p in one.partitions { #expect(one.snapshot(partition: p) == batched.snapshot(partition: p), "seed \(seed): partition \(p)") }
    }
}

extension BatchProcessingTests {
    /// A message as the streaming engine hands it over: value, Kafka key, `ce_*` headers for binary mode.
    struct Message {
        var partition: Int32
        var value: [UInt8]
        var key: [UInt8]?
        var headers: [String: [UInt8]]? = nil
    }

    /// Keys (some not the subject) and binary-mode messages, batched as the streaming engine batches them, give
    /// what one `process` call per message gives, key-mismatch counts included.
    @Test(arguments: [1, 8, 9, 17, 333])
    func keysAndBinaryModeInBatches(batchSize: Int) throws {
        let seed = testSeed()
        var messages: [Message] = []
        for (i, input) in RestoreTests.workload(seed: seed).enumerated() {
            var m = Message(partition: input.partition, value: Array(input.json.utf8), key: nil)
            let object = try? JSONSerialization.jsonObject(with: Data(m.value)) as? [String: Any]
            if i % 3 == 0, let subject = object?["subject"] as? String { m.key = Array((i % 17 == 0 ? "someone-else" : subject).utf8) }
            if i % 7 == 0, let o = object, let data = o["data"] {
                // Binary mode: the data alone as the value, the attributes as headers (one without ce_time).
                m.value = Array(try JSONSerialization.data(withJSONObject: data))
                var h: [String: [UInt8]] = [:]
                for name in ["specversion", "id", "source", "type", "subject", "time"] where !(name == "time" && i % 91 == 0) {
                    if let v = o[name] as? String { h["ce_" + name] = Array(v.utf8) }
                }
                m.headers = h
            }
            messages.append(m)
        }
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let one = Pipeline(config: config), batched = Pipeline(config: config)
        func withAttributes<R>(_ h: [String: [UInt8]]?, _ body: (BinaryAttributes?) -> R) -> R {
            guard let h else { return body(nil) }
            let names = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"]
            let buffers = names.map { h[$0].map { v -> UnsafeRawBufferPointer in
                let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, v.count), alignment: 1)
                p.copyBytes(from: v)
                return UnsafeRawBufferPointer(rebasing: p[0..<v.count])
            } }
            defer { for b in buffers { b.map { UnsafeMutableRawPointer(mutating: $0.baseAddress!).deallocate() } } }
            return body(BinaryAttributes(specversion: buffers[0], id: buffers[1], source: buffers[2], type: buffers[3], subject: buffers[4], time: buffers[5]))
        }
        for (i, m) in messages.enumerated() {
            withAttributes(m.headers) { binary in
                m.value.withUnsafeBytes { v in
                    if let key = m.key {
                        key.withUnsafeBytes { one.process(partition: m.partition, offset: Int64(i), value: v, key: $0, binary: binary, nowMicros: now) }
                    } else {
                        one.process(partition: m.partition, offset: Int64(i), value: v, binary: binary, nowMicros: now)
                    }
                }
            }
        }
        var start = 0
        while start < messages.count {
            var bytes: [UInt8] = [], records: [BatchRecord] = [], binaries: [BatchBinary] = []
            func append(_ b: [UInt8]?) -> (Int32, Int32) {
                guard let b else { return (0, -1) }
                defer { bytes += b }
                return (Int32(bytes.count), Int32(b.count))
            }
            for i in start..<min(start + batchSize, messages.count) {
                let m = messages[i]
                let v = append(m.value)
                var r = BatchRecord(partition: m.partition, offset: Int64(i), start: v.0, count: v.1)
                (r.keyStart, r.keyCount) = append(m.key)
                if let h = m.headers {
                    r.binary = Int32(binaries.count)
                    binaries.append(BatchBinary(specversion: append(h["ce_specversion"]), id: append(h["ce_id"]), source: append(h["ce_source"]),
                                                type: append(h["ce_type"]), subject: append(h["ce_subject"]), time: append(h["ce_time"])))
                }
                records.append(r)
            }
            bytes.withUnsafeBytes { b in
                records.withUnsafeBufferPointer { r in binaries.withUnsafeBufferPointer { batched.process(batch: b, records: r, binaries: $0, nowMicros: now) } }
            }
            start += batchSize
        }
        for p in [one, batched] { p.finish() }
        let a = one.checkpoint(), b = batched.checkpoint()
        #expect(a.billing.map { $0.json() } == b.billing.map { $0.json() }, "seed \(seed)")
        #expect(a.dlq.map { $0.json() } == b.dlq.map { $0.json() }, "seed \(seed)")
        #expect(a.lineage.map(\.events.offsets) == b.lineage.map(\.events.offsets), "seed \(seed)")
        #expect(one.counters == batched.counters && one.counters.balanced, "seed \(seed)")
        #expect(one.counters.keyMismatch > 0 && one.counters.rejectedTotal > 0, "seed \(seed): mismatched keys and a binary message without ce_time")
        #expect(messages.filter { $0.headers != nil }.count > 100)
        for p in one.partitions {
            let same = one.snapshot(partition: p) == batched.snapshot(partition: p)
            #expect(same, "seed \(seed): partition \(p)")
        }
    }
}

/// MIN, MAX, AVG, LATEST and UNIQUE_COUNT keep their state out of line (`Aggregate.Rest`): their quantities, and
/// a snapshot taken mid-window and restored into a fresh pipeline, must behave as an uninterrupted run.
@Suite struct NonAdditiveStateTests {
    static let yaml = """
    meters:
      - { slug: lo, eventType: probe, aggregation: MIN, valueProperty: $.v, windowSize: HOUR }
      - { slug: hi, eventType: probe, aggregation: MAX, valueProperty: $.v, windowSize: HOUR }
      - { slug: mean, eventType: probe, aggregation: AVG, valueProperty: $.v, windowSize: HOUR }
      - { slug: last, eventType: probe, aggregation: LATEST, valueProperty: $.v, windowSize: HOUR }
      - { slug: users, eventType: probe, aggregation: UNIQUE_COUNT, valueProperty: $.u, windowSize: HOUR }
    priceBooks:
      - id: std
        version: 1
        currency: USD
        effectiveFrom: 2026-01-01T00:00:00Z
        prices:
          - { meter: lo, model: per_unit, unitAmount: "1" }
          - { meter: hi, model: per_unit, unitAmount: "1" }
          - { meter: mean, model: per_unit, unitAmount: "1" }
          - { meter: last, model: per_unit, unitAmount: "1" }
          - { meter: users, model: per_unit, unitAmount: "1" }
    customers:
      - { subject: "c-*", entity: us, priceBook: std }
    entities:
      - { id: us, currency: USD, accounts: { unbilledReceivable: "1210", usageRevenue: "4010" } }
    """

    static func probe(_ id: String, _ time: String, _ v: Int, _ u: String) -> Input {
        Input(partition: 0, json: #"{"specversion":"1.0","id":"\#(id)","source":"s","type":"probe","subject":"c-1","time":"\#(time)","data":{"v":\#(v),"u":"\#(u)"}}"#)
    }

    /// Hour 0: v = 5, 3, 9 (the 9 is not the latest: it is the earliest), u = a, b, a. Hour 1: one event, to close hour 0.
    static let inputs = [
        probe("e1", "2026-10-01T00:20:00Z", 5, "a"), probe("e2", "2026-10-01T00:40:00Z", 3, "b"),
        probe("e3", "2026-10-01T00:05:00Z", 9, "a"), probe("e4", "2026-10-01T01:30:00Z", 4, "c"),
    ]

    @Test func quantitiesOfEachAggregation() throws {
        let config = try ConfigLoader.parse(yaml: NonAdditiveStateTests.yaml, file: "n.yaml")
        let out = try run(NonAdditiveStateTests.inputs, config: config)
        let hour0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var q: [String: String] = [:]
        for b in out.billing where b.windowStart == hour0 { q[b.meter] = b.quantity.description }
        #expect(q == ["lo": "3", "hi": "9", "mean": "5.666666667", "last": "3", "users": "2"])
        #expect(out.counters.balanced && out.counters.accepted == 4)
    }

    @Test func snapshotMidWindowRestoresTheOutOfLineState() throws {
        let config = try ConfigLoader.parse(yaml: NonAdditiveStateTests.yaml, file: "n.yaml")
        let expected = try run(NonAdditiveStateTests.inputs, config: config).billing.map { $0.json() }
        let first = Pipeline(config: config)
        RestoreTests().feed(first, NonAdditiveStateTests.inputs[..<2])
        var billing = first.checkpoint().billing
        let bytes = try #require(first.snapshot(partition: 0))
        let second = Pipeline(config: config)
        try second.restore(partition: 0, from: bytes)
        #expect(second.snapshot(partition: 0) == bytes, "restore is exact")
        RestoreTests().feed(second, NonAdditiveStateTests.inputs[2...])
        second.finish()
        billing += second.checkpoint().billing
        #expect(billing.map { $0.json() }.sorted() == expected.sorted())
        #expect(!expected.isEmpty)
    }
}

/// Lineage names each event's CloudEvents `source`: with many producers interleaved in one partition (and
/// escaped sources), each source is listed once per checkpoint, in first-use order, and every event points to its own.
@Suite struct LineageSourceTests {
    @Test func interleavedSourcesAreListedOnceAndEachEventPointsToItsOwn() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        let names = (0..<40).map { "producer-\($0)" } + [#"esc\"aped"#, "x"]
        let decoded = (0..<40).map { "producer-\($0)" } + [#"esc"aped"#, "x"]
        let p = Pipeline(config: try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml"))
        var expected: [String] = []
        var k = 0
        for i in 0..<2_000 {
            // Runs of one source, and switches to any other (both paths of the lookup).
            if g.next() % 4 == 0 { k = Int(g.next() % UInt64(names.count)) }
            expected.append(decoded[k])
            let json = #"{"specversion":"1.0","id":"e\#(i)","source":"\#(names[k])","type":"llm_tokens","subject":"c-1","time":"2026-10-01T00:00:00Z","data":{"tokens":1}}"#
            var bytes = Array(json.utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: 0, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        let c = p.checkpoint()
        let events = try #require(c.lineage.first?.events)
        #expect(c.lineage.count == 1)
        #expect(events.count == expected.count, "seed \(seed)")
        var firstUse: [String] = []
        for s in expected where !firstUse.contains(s) { firstUse.append(s) }
        #expect(events.sources == firstUse, "seed \(seed)")
        #expect(events.sourceIndex.map { events.sources[Int($0)] } == expected, "seed \(seed)")
        // The next checkpoint starts its own list.
        var bytes = Array(#"{"specversion":"1.0","id":"last","source":"x","type":"llm_tokens","subject":"c-1","time":"2026-10-01T00:01:00Z","data":{"tokens":1}}"#.utf8)
        bytes.withUnsafeMutableBytes { p.process(partition: 0, offset: 2_000, value: UnsafeRawBufferPointer($0), nowMicros: now) }
        let next = try #require(p.checkpoint().lineage.first?.events)
        #expect(next.sources == ["x"] && next.sourceIndex == [0])
    }
}
