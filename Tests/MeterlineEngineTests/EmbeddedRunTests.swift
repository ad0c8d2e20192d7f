import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineKafka
import MeterlineLineage
import Prometheus
import Testing

/// A small config with exact, hand-checkable prices.
let testConfigYAML = """
meters:
  - { slug: tokens, eventType: llm_tokens, aggregation: SUM, valueProperty: $.tokens, windowSize: HOUR }
  - { slug: api_calls, eventType: api_request, aggregation: COUNT, windowSize: HOUR }
priceBooks:
  - id: std
    version: 1
    currency: USD
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - meter: tokens
        model: graduated
        tiers:
          - { upTo: "1000", unitAmount: "0.01" }
          - { upTo: null, unitAmount: "0.005" }
      - { meter: api_calls, model: per_unit, unitAmount: "0.25" }
  - id: eu
    version: 1
    currency: EUR
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - { meter: api_calls, model: per_unit, unitAmount: "0.25" }
      - { meter: tokens, model: per_unit, unitAmount: "0.001" }
customers:
  - { subject: acme, entity: us-inc, priceBook: std }
  - { subject: globex, entity: eu-gmbh, priceBook: eu }
entities:
  - { id: us-inc, currency: USD, accounts: { unbilledReceivable: "1210", usageRevenue: "4010" } }
  - { id: eu-gmbh, currency: EUR, accounts: { unbilledReceivable: "1210", usageRevenue: "4020" } }
"""

func event(_ id: String, _ type: String, _ subject: String, _ time: String, _ data: String = "{}") -> Workload.Message {
    let json = #"{"specversion":"1.0","id":"\#(id)","source":"test","type":"\#(type)","subject":"\#(subject)","time":"\#(time)","data":\#(data)}"#
    return Workload.Message(key: Array(subject.utf8), value: Array(json.utf8), timestampMs: 0)
}

func jsonLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
}

@Suite(.timeLimit(.minutes(2)))
struct EmbeddedRunTests {
    @Test func knownEventsThroughTheMockCluster() throws {
        let config = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        let messages: [Workload.Message] = [
            event("e1", "llm_tokens", "acme", "2026-10-01T00:10:00Z", #"{"tokens":1000}"#),
            event("e2", "llm_tokens", "acme", "2026-10-01T02:20:00+02:00", #"{"tokens":"500"}"#), // 00:20Z
            event("e2", "llm_tokens", "acme", "2026-10-01T00:20:00Z", #"{"tokens":500}"#),         // duplicate (source, id)
            event("e3", "api_request", "globex", "2026-10-01T00:30:00Z"),
            event("e4", "api_request", "globex", "2026-10-01T00:40:00.123456Z"),
            Workload.Message(key: Array("acme".utf8), value: Array(#"{"specversion":"1.0","id":"bad""#.utf8), timestampMs: 0),
            event("e6", "image_render", "acme", "2026-10-01T00:50:00Z"),
            event("e5", "llm_tokens", "acme", "2026-10-01T02:00:00Z", #"{"tokens":100}"#),
        ]
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var run = EmbeddedRun(config: config, workload: Workload(events: 0), outDirectory: out)
        run.messages = messages
        run.usagePartitions = 2
        run.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        let registry = PrometheusCollectorRegistry()
        run.metrics = (PrometheusMetricsFactory(registry: registry), { registry.emitToString() })
        let summary = try run.run()

        // Conservation, read back from the output topics.
        #expect(summary.produced == 8)
        #expect(summary.counters.input == 8)
        #expect(summary.counters.accepted == 5)
        #expect(summary.counters.duplicate == 1)
        #expect(summary.counters.rejected[.malformedJSON] == 1)
        #expect(summary.counters.rejected[.unknownMeter] == 1)
        #expect(summary.counters.balanced)
        #expect(summary.complete)

        // The same conservation in the metrics file (Prometheus text; no customer labels).
        let metrics = try String(contentsOfFile: out + "/metrics.prom", encoding: .utf8)
        for line in [#"meterline_events_total{outcome="in"} 8"#, #"meterline_events_total{outcome="accepted"} 5"#,
                     #"meterline_events_total{outcome="duplicate"} 1"#, #"meterline_events_total{outcome="rejected"} 2"#,
                     #"meterline_events_rejected_total{reason="MALFORMED_JSON"} 1"#, #"meterline_events_rejected_total{reason="UNKNOWN_METER"} 1"#,
                     "meterline_billing_events_total 3", "meterline_journal_entries_total 2", "meterline_dlq_records_total 2",
                     "meterline_assigned_partitions 2.0", "meterline_consumer_lag_messages 0.0",
                     // 3 windows published, 2 entries (one per entity) posted, all at the pinned 2026-11-01.
                     "meterline_window_close_latency_seconds_count 3", "meterline_event_to_journal_latency_seconds_count 2"] {
            #expect(metrics.split(separator: "\n").contains { $0 == line }, "metrics.prom lacks \(line)")
        }
        #expect(!metrics.contains("acme") && !metrics.contains("globex"), "no customer labels")

        // Billing: acme tokens 00:00 window Q=1500 → 1000×0.01 + 500×0.005 = 12.5; 02:00 window Q=100 → 13 − 12.5 = 0.5.
        let billing = try jsonLines(out + "/billing-events.jsonl")
        #expect(billing.count == 3)
        func find(_ subject: String, _ window: String) -> [String: Any]? {
            billing.first { $0["subject"] as? String == subject && $0["windowStart"] as? String == window }
        }
        let w0 = try #require(find("acme", "2026-10-01T00:00:00Z"))
        #expect(w0["quantity"] as? String == "1500")
        #expect(w0["amount"] as? String == "12.5")
        #expect(w0["periodQuantity"] as? String == "1500")
        #expect(w0["eventCount"] as? Int == 2)
        #expect(w0["kind"] as? String == "usage")
        let w2 = try #require(find("acme", "2026-10-01T02:00:00Z"))
        #expect(w2["amount"] as? String == "0.5")
        #expect(w2["periodQuantity"] as? String == "1600")
        let g0 = try #require(find("globex", "2026-10-01T00:00:00Z"))
        #expect(g0["meter"] as? String == "api_calls")
        #expect(g0["quantity"] as? String == "2")
        #expect(g0["amount"] as? String == "0.5")
        #expect(g0["currency"] as? String == "EUR")

        // Journal: one balanced entry per entity for 2026-10-01, exact minor units.
        let journal = try jsonLines(out + "/journal-entries.jsonl")
        #expect(journal.count == 2)
        let us = try #require(journal.first { $0["entity"] as? String == "us-inc" })
        #expect(us["postingDate"] as? String == "2026-10-01")
        let usLines = try #require(us["lines"] as? [[String: Any]])
        #expect(usLines.count == 2)
        #expect(usLines.contains { $0["account"] as? String == "1210" && $0["debit"] as? Int == 1300 && $0["credit"] as? Int == 0 && $0["subject"] as? String == "acme" })
        #expect(usLines.contains { $0["account"] as? String == "4010" && $0["debit"] as? Int == 0 && $0["credit"] as? Int == 1300 })
        let eu = try #require(journal.first { $0["entity"] as? String == "eu-gmbh" })
        let euLines = try #require(eu["lines"] as? [[String: Any]])
        #expect(euLines.contains { $0["account"] as? String == "1210" && $0["debit"] as? Int == 50 })
        #expect(euLines.contains { $0["account"] as? String == "4020" && $0["credit"] as? Int == 50 })
        let ids = usLines.flatMap { ($0["billingEvents"] as? [String]) ?? [] }
        #expect(Set(ids) == Set([w0["id"] as! String, w2["id"] as! String]))

        // DLQ: reason codes, original payloads.
        let dlq = try jsonLines(out + "/dlq.jsonl")
        #expect(dlq.map { $0["reason"] as! String }.sorted() == ["MALFORMED_JSON", "UNKNOWN_METER"])

        // Lineage: real zstd-framed files leading back to the events of each window.
        let files = try FileManager.default.contentsOfDirectory(atPath: out + "/lineage").filter { $0.hasSuffix(".mlz") }
        #expect(!files.isEmpty)
        let lineageRef = try #require((w0["lineage"] as? [String])?.first)
        #expect(lineageRef.hasSuffix("#acme|tokens||2026-10-01T00:00:00Z"))
    }

    @Test func embeddedDefaultConfigIsTheExampleFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent(EmbeddedDefaults.configFileName), encoding: .utf8)
        #expect(file == EmbeddedDefaults.configYAML)
        let config = try ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "embedded")
        #expect(config.meters.count == 2 && config.entities.count == 2)
    }

    @Test func sameInputGivesByteIdenticalOutputs() throws {
        let config = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        var messages: [Workload.Message] = []
        for i in 0..<300 {
            let subject = i % 3 == 0 ? "globex" : "acme"
            let minute = i / 5
            let time = RFC3339.format(micros: RFC3339.parseMicros("2026-10-01T00:00:00Z")! + Int64(minute) * 60_000_000)
            messages.append(event("id-\(i)", i % 2 == 0 ? "llm_tokens" : "api_request", subject, time, #"{"tokens":\#(i * 7 % 1000)}"#))
        }
        var outputs: [[String]] = []
        // Partitions, checkpoint cadence and pipeline threads (shards) change nothing.
        for (partitions, shards): (Int32, Int) in [(1, 1), (3, 1), (3, 3)] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-det-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            var run = EmbeddedRun(config: config, workload: Workload(events: 0), outDirectory: out)
            run.messages = messages
            run.usagePartitions = partitions
            run.shards = shards
            run.checkpointEvery = partitions == 1 ? 1_000 : 37
            run.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
            let summary = try run.run()
            #expect(summary.complete)
            // Each subject lives in one partition (key = subject), so outputs must not depend on the partition count.
            let billing = try String(contentsOfFile: out + "/billing-events.jsonl", encoding: .utf8)
                .replacingOccurrences(of: #""lineage":\["usage-\d+#"#, with: #""lineage":["usage-*#"#, options: .regularExpression)
            let journal = try String(contentsOfFile: out + "/journal-entries.jsonl", encoding: .utf8)
            outputs.append([billing, journal])
        }
        #expect(outputs[0] == outputs[1])
    }
}

@Suite(.timeLimit(.minutes(3)))
struct RestartTests {
    /// A crash after three checkpoints loses the work since the last one; a new instance restores the state
    /// topic, resumes from the offsets recorded there, and the outputs (last record per id) equal an uninterrupted run.
    @Test func crashAndRestartGivesTheOutputsOfAnUninterruptedRun() throws {
        let config = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        var messages: [Workload.Message] = []
        var g = SeededGenerator(seed: 21)
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<600 {
            clock += Int64(g.next() % 90) * 1_000_000
            let late = g.next() % 25 == 0 ? 2 * UTC.microsPerHour : 0
            let subject = g.next() % 2 == 0 ? "acme" : "globex"
            messages.append(event("r-\(i)", g.next() % 3 == 0 ? "api_request" : "llm_tokens", subject, RFC3339.format(micros: clock - late), #"{"tokens":\#(g.next() % 3000)}"#))
            if i % 50 == 49 { messages.append(messages[Int(g.next() % UInt64(messages.count))]) }
        }
        let pinned = RFC3339.parseMicros("2026-11-01T00:00:00Z")!

        func cluster() throws -> (MockCluster, [String: String]) {
            let c = try MockCluster(brokers: 1)
            for (t, p) in [("usage", 3), ("billing", 4), ("journal", 2), ("dlq", 2), ("state", 3)] { try c.createTopic(t, partitions: Int32(p)) }
            let kafka = ["bootstrap.servers": c.bootstrapServers]
            let producer = try KafkaProducer(config: kafka)
            for m in messages { try producer.produce(topic: "usage", key: m.key, value: m.value) }
            try producer.flush(timeoutMs: 30_000)
            return (c, kafka)
        }
        func lastPerId(_ topic: String, _ kafka: [String: String]) throws -> [String: String] {
            var out: [String: String] = [:]
            for r in try readTopic(topic, kafka: kafka).sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
                out[String(decoding: r.key, as: UTF8.self)] = String(decoding: r.value, as: UTF8.self)
            }
            return out
        }

        // Uninterrupted.
        let (c1, k1) = try cluster()
        defer { c1.close() }
        let whole = StreamingEngine(config: config, kafka: k1, lineageDirectory: tempDir("rs-a"))
        whole.checkpointEvery = 100
        whole.now = { pinned }
        let wholeCounters = try whole.run(until: .afterMessages(messages.count), groupId: "g")
        #expect(whole.counters.revisions > 0, "the input has late data")

        // Crash after 350 messages (checkpoints at 100, 200, 300), then a new instance.
        let (c2, k2) = try cluster()
        defer { c2.close() }
        let a = StreamingEngine(config: config, kafka: k2, lineageDirectory: tempDir("rs-b"))
        a.checkpointEvery = 100
        a.now = { pinned }
        _ = try a.run(until: .crashAfterMessages(350), groupId: "g")
        #expect(a.outputs.checkpoints == 3)
        let b = StreamingEngine(config: config, kafka: k2, lineageDirectory: tempDir("rs-c"), shards: 2)  // restores into shards
        b.checkpointEvery = 100
        b.now = { pinned }
        let counters = try b.run(until: .afterMessages(messages.count - 300), groupId: "g")

        #expect(counters.input == messages.count, "every message counted exactly once across the crash")
        #expect(counters == wholeCounters)
        for topic in ["billing", "journal", "dlq"] {
            let expected = try lastPerId(topic, k1)
            let got = try lastPerId(topic, k2)
            #expect(!expected.isEmpty || topic == "dlq")
            #expect(got == expected, "\(topic): \(got.count) ids vs \(expected.count)")
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct OutputSchemaTests {
    /// Real output of a run (with revisions, DLQ records and true-ups from a backfill) validates against schemas/.
    @Test func realOutputValidatesAgainstTheSchemas() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let config = try ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "embedded")
        let dir = tempDir("schema")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var streamWorkload = Workload(events: 5_000)
        streamWorkload.customersPerEntity = 5 // few customers: late events land in windows that already closed → revisions
        var run = EmbeddedRun(config: config, workload: streamWorkload, outDirectory: dir + "/stream")
        run.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        #expect(try run.run().complete)
        // A backfill closing October adds true-ups (minimums, base fees).
        var w = Workload(events: 5_000)
        w.seed = 7
        let writer = try ChunkedFileWriter(path: dir + "/in.jsonl")
        try w.generate { try writer.write($0.value + [0x0A]) }
        try writer.close()
        var b = Backfill(config: config, from: RFC3339.parseMicros("2026-09-01T00:00:00Z")!, to: RFC3339.parseMicros("2026-11-01T00:00:00Z")!, out: dir + "/bf")
        b.inputs = [dir + "/in.jsonl"]
        b.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        b.progress = Progress(totalBytes: 1, output: FileHandle(forWritingAtPath: "/dev/null")!, isTerminal: false)
        _ = try b.run()
        #expect(try read(dir + "/bf/billing-events.jsonl").contains(#""kind":"true_up""#))
        #expect(try read(dir + "/stream/billing-events.jsonl").contains(#""kind":"revision""#))

        let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        root, d = sys.argv[1], sys.argv[2]
        checks = [("billing-event", ["stream/billing-events.jsonl", "bf/billing-events.jsonl"]),
                  ("journal-entry", ["stream/journal-entries.jsonl", "bf/journal-entries.jsonl"])]
        n = 0
        for schema, files in checks:
            v = Draft202012Validator(json.load(open(f"{root}/schemas/{schema}.schema.json")))
            for f in files:
                for i, line in enumerate(open(f"{d}/{f}")):
                    errors = list(v.iter_errors(json.loads(line)))
                    if errors:
                        print(f"{f}:{i+1}: {errors[0].message}"); sys.exit(1)
                    n += 1
        print(n)
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, root, dir]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(text)")
        #expect((Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 1_000, "\(text)")
    }
}
