import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineKafka
import MeterlineLineage
import MeterlinePipeline
import Testing

/// A known workload: two customers, two meters, a duplicate, a malformed line, an out-of-range event.
func backfillMessages() -> [Workload.Message] {
    var m: [Workload.Message] = []
    for i in 0..<200 {
        let subject = i % 3 == 0 ? "globex" : "acme"
        let time = RFC3339.format(micros: RFC3339.parseMicros("2026-10-01T00:00:00Z")! + Int64(i) * 300_000_000)
        m.append(event("ev-\(i)", i % 2 == 0 ? "llm_tokens" : "api_request", subject, time, #"{"tokens":\#(i * 37 % 900 + 1)}"#))
    }
    m.append(m[17]) // exact duplicate
    m.append(Workload.Message(key: [], value: Array(#"{"specversion":"1.0","id":"#.utf8), timestampMs: 0))
    m.append(event("early", "llm_tokens", "acme", "2026-09-30T23:59:59Z", #"{"tokens":5}"#))
    return m
}

func writeInput(_ messages: [Workload.Message], _ path: String) throws {
    let w = try ChunkedFileWriter(path: path)
    for m in messages { try w.write(m.value + [0x0A]) }
    try w.close()
}

func tempDir(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-\(name)-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

let october = (RFC3339.parseMicros("2026-10-01T00:00:00Z")!, RFC3339.parseMicros("2026-10-02T00:00:00Z")!)

func backfill(_ config: Configuration, input: [String], out: String, previous: String? = nil, shards: Int = 1,
              timeSlice: UInt64? = Backfill.defaultTimeSlice) throws -> BackfillReport {
    var b = Backfill(config: config, from: october.0, to: october.1, out: out)
    b.inputs = input
    b.previous = previous
    b.shards = shards
    b.timeSlice = timeSlice
    b.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
    b.progress = Progress(totalBytes: 1, output: FileHandle(forWritingAtPath: "/dev/null")!, isTerminal: false)
    return try b.run()
}

@Suite(.timeLimit(.minutes(2)))
struct BackfillTests {
    let config = try! ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")

    @Test func equalsTheStreamingEnginesOutputAndIsDeterministic() throws {
        let dir = tempDir("bf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let messages = backfillMessages()
        try writeInput(messages, dir + "/in.jsonl")
        try writeInput(messages, dir + "/in.jsonl.zst")

        let r1 = try backfill(config, input: [dir + "/in.jsonl"], out: dir + "/a")
        #expect(r1.counters.balanced)
        #expect(r1.linesRead == 203)
        #expect(r1.counters.outOfRange == 1)
        #expect(r1.counters.input == 202 && r1.counters.duplicate == 1 && r1.counters.rejected[.malformedJSON] == 1)

        // Second run, 4 shards, and the .zst input: byte-identical outputs.
        _ = try backfill(config, input: [dir + "/in.jsonl"], out: dir + "/b")
        _ = try backfill(config, input: [dir + "/in.jsonl"], out: dir + "/c", shards: 4)
        _ = try backfill(config, input: [dir + "/in.jsonl.zst"], out: dir + "/d")
        for f in ["billing-events.jsonl", "journal-entries.jsonl", "dlq.jsonl"] {
            let a = try read(dir + "/a/" + f)
            #expect(!a.isEmpty)
            #expect(a == (try read(dir + "/b/" + f)), "\(f): second run")
            #expect(a == (try read(dir + "/c/" + f)), "\(f): --shards 4")
            #expect(a.replacingOccurrences(of: "in.jsonl", with: "X") == (try read(dir + "/d/" + f)).replacingOccurrences(of: "in.jsonl.zst", with: "X"), "\(f): .zst input")
        }
        let lineage = try FileManager.default.contentsOfDirectory(atPath: dir + "/a/lineage")
        #expect(lineage.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/lineage/" + lineage[0])) == Data(contentsOf: URL(fileURLWithPath: dir + "/c/lineage/" + lineage[0])))

        // The streaming engine on the same events (one partition per subject key) commits the same billing ids and amounts.
        var run = EmbeddedRun(config: config, workload: Workload(events: 0), outDirectory: dir + "/stream")
        run.messages = messages.filter { !$0.value.starts(with: Array(#"{"specversion":"1.0","id":"early""#.utf8)) }
        run.usagePartitions = 2
        run.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        let s = try run.run()
        #expect(s.complete)
        func idsAndAmounts(_ path: String) throws -> [String] {
            try jsonLines(path).map { "\($0["id"]!) \($0["amount"]!) \($0["quantity"]!)" }.sorted()
        }
        #expect(try idsAndAmounts(dir + "/stream/billing-events.jsonl") == idsAndAmounts(dir + "/a/billing-events.jsonl"))
        #expect(try read(dir + "/stream/journal-entries.jsonl") == read(dir + "/a/journal-entries.jsonl"))
    }

    /// The backfill's busy threads ask for a longer scheduler slice (`Backfill.defaultTimeSlice`; nil: none), the
    /// report says what the kernel granted, and the calling thread has the kernel's default slice back afterwards.
    @Test func threadsAskForALongerSchedulerSlice() throws {
        let dir = tempDir("slice")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeInput(backfillMessages(), dir + "/in.jsonl")
        let before = ThreadTimeSlice.current
        #expect(before != Backfill.defaultTimeSlice)
        for (name, slice) in [("a", Backfill.defaultTimeSlice), ("b", nil)] as [(String, UInt64?)] {
            let r = try backfill(config, input: [dir + "/in.jsonl"], out: dir + "/" + name, shards: 2, timeSlice: slice)
            #expect(ThreadTimeSlice.current == before, "slice \(String(describing: slice))")
            if before != nil, slice != nil {
                #expect(r.threadTimeSlice == 100_000_000)
                #expect(try read(dir + "/\(name)/report.json").contains(#""threadTimeSliceMicros":100000,"#))
                #expect(r.table().contains("scheduler slice       100.0 ms per turn"))
            } else {
                #expect(r.threadTimeSlice == nil)
                #expect(!(try read(dir + "/\(name)/report.json")).contains("threadTimeSlice"))
                #expect(r.table().contains("scheduler slice       the kernel's default"))
            }
        }
        #expect(try read(dir + "/a/billing-events.jsonl") == read(dir + "/b/billing-events.jsonl"))
    }

    /// The shards read lines in place from the decompressed chunks: lines cut by a chunk boundary, lines longer
    /// than a chunk (a chunk twice the size is taken), and a last line without its newline give the outputs of
    /// one large chunk, with 1 and 3 shards, plain and zstd.
    @Test func chunkBoundariesDoNotChangeTheOutputs() throws {
        let dir = tempDir("bf-chunks")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var messages = backfillMessages()
        // A valid event of ~5,000 bytes (longer than every small chunk below), and a rejected one of ~9,000.
        messages.insert(event("long", "llm_tokens", "acme", "2026-10-01T10:00:00Z",
                              #"{"tokens":7,"note":"\#(String(repeating: "x", count: 5_000))"}"#), at: 50)
        messages.insert(Workload.Message(key: [], value: Array(String(repeating: "y", count: 9_000).utf8), timestampMs: 0), at: 120)
        var bytes: [UInt8] = []
        for m in messages { bytes += m.value + [0x0A] }
        bytes.removeLast()  // the last line has no newline
        for name in ["in.jsonl", "in.jsonl.zst"] {
            let w = try ChunkedFileWriter(path: dir + "/" + name)
            try w.write(bytes)
            try w.close()
        }
        func run(_ name: String, chunk: Int, shards: Int, out: String) throws -> BackfillReport {
            var b = Backfill(config: config, from: october.0, to: october.1, out: dir + "/" + out)
            b.inputs = [dir + "/" + name]
            b.shards = shards
            b.chunkBytes = chunk
            b.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
            b.progress = Progress(totalBytes: 1, output: FileHandle(forWritingAtPath: "/dev/null")!, isTerminal: false)
            return try b.run()
        }
        // A line longer than the limit (the 9,000-byte line 121) is a one-line error naming the file and the line, not a crash.
        var tooLong = Backfill(config: config, from: october.0, to: october.1, out: dir + "/too-long")
        tooLong.inputs = [dir + "/in.jsonl"]
        tooLong.chunkBytes = 1_000
        tooLong.maxLineBytes = 6_000
        tooLong.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        tooLong.progress = Progress(totalBytes: 1, output: FileHandle(forWritingAtPath: "/dev/null")!, isTerminal: false)
        #expect(throws: BackfillError.self) { try tooLong.run() }
        do { _ = try tooLong.run() } catch {
            #expect("\(error)".contains("in.jsonl: line 121 is longer than 6000 bytes"), "got \(error)")
        }
        let whole = try run("in.jsonl", chunk: 1 << 20, shards: 1, out: "whole")
        #expect(whole.linesRead == 205 && whole.counters.balanced)
        #expect(whole.counters.rejected[.malformedJSON] == 2, "the truncated line and the long non-JSON line")
        let files = ["billing-events.jsonl", "journal-entries.jsonl", "dlq.jsonl"]
        let expected = try files.map { try read(dir + "/whole/" + $0) }
        #expect(expected[0].contains(#""eventCount":"#) && expected[2].contains("eXl5eXl5"), "the long line's payload (base64 of y…) is in the DLQ")
        var k = 0
        // (For the .zst input every chunk is at least the frame's window and a block, ~130 KB here: `fillInPlace`
        // decodes into it. The small chunks and their carried partial lines are exercised by the plain input.)
        for name in ["in.jsonl", "in.jsonl.zst"] {
            for chunk in [97, 1_000, 4_096] {
                for shards in [1, 3] {
                    k += 1
                    let r = try run(name, chunk: chunk, shards: shards, out: "r\(k)")
                    #expect(r.linesRead == whole.linesRead && r.counters == whole.counters, "\(name), chunk \(chunk), \(shards) shards: counters")
                    for (f, e) in zip(files, expected) {
                        let got = try read(dir + "/r\(k)/" + f)
                        #expect(got.replacingOccurrences(of: name, with: "in.jsonl") == e, "\(name), chunk \(chunk), \(shards) shards: \(f)")
                    }
                }
            }
        }
    }

    @Test func previousRunGivesOnlyTheDeltasOfAPriceBookChange() throws {
        let dir = tempDir("bfprev")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeInput(backfillMessages(), dir + "/in.jsonl")
        _ = try backfill(config, input: [dir + "/in.jsonl"], out: dir + "/before")
        // acme's api_calls price goes from 0.25 to 0.30 USD; globex (EUR book) is untouched.
        let parts = testConfigYAML.components(separatedBy: "  - id: eu")
        let usBook = parts[0].replacingOccurrences(of: #"unitAmount: "0.25""#, with: #"unitAmount: "0.30""#)
        let changed = try ConfigLoader.parse(yaml: usBook + "  - id: eu" + parts[1], file: "changed.yaml")
        let eu = changed.priceBooks.books.first { $0.id == "eu" }!
        #expect(eu.prices.contains { if case .perUnit(let u) = $0.model { return u == (try! Amount("0.25")) } else { return false } }, "the EU book keeps 0.25")
        let r = try backfill(changed, input: [dir + "/in.jsonl"], out: dir + "/after", previous: dir + "/before")

        let diffs = try jsonLines(dir + "/after/billing-events.jsonl")
        let acmeCallWindows = try jsonLines(dir + "/before/billing-events.jsonl").filter { $0["subject"] as? String == "acme" && $0["meter"] as? String == "api_calls" }
        #expect(!diffs.isEmpty)
        #expect(diffs.count == acmeCallWindows.count, "one revision per changed window, nothing else")
        for d in diffs {
            #expect(d["subject"] as? String == "acme")
            #expect(d["kind"] as? String == "revision")
            #expect(d["revision"] as? Int == 1)
            let q = try Quantity(d["quantity"] as! String)
            let expectedDelta = try Amount.times(q, unitPrice: Amount("0.05"))
            #expect(d["amountDelta"] as? String == expectedDelta.description)
        }
        #expect(r.changes.keys.sorted() == ["us-inc|USD|acme"])
        #expect(r.unchangedBillingEvents > 0)
        #expect(r.stateChanges.map { $0.new == 0 && $0.nowDuplicate == 0 && $0.nowRejected == 0 } == true)
        // Adjustment entries: balanced, and they bring the posted total to the new rounded total.
        let adj = try jsonLines(dir + "/after/journal-entries.jsonl")
        #expect(!adj.isEmpty)
        let adjNet = adj.flatMap { $0["lines"] as! [[String: Any]] }.filter { $0["account"] as? String == "1210" }.reduce(0) { $0 + ($1["debit"] as! Int) - ($1["credit"] as! Int) }
        func net(_ p: String) throws -> Int {
            try jsonLines(p).filter { $0["entity"] as? String == "us-inc" }.flatMap { $0["lines"] as! [[String: Any]] }
                .filter { $0["account"] as? String == "1210" }.reduce(0) { $0 + ($1["debit"] as! Int) - ($1["credit"] as! Int) }
        }
        #expect(try net(dir + "/before/journal-entries.jsonl") + adjNet == net(dir + "/after/period/journal-entries.jsonl"))
        // The output can be the --previous of the next backfill: same prices again → nothing to publish.
        let again = try backfill(changed, input: [dir + "/in.jsonl"], out: dir + "/again", previous: dir + "/after")
        #expect(try read(dir + "/again/billing-events.jsonl").isEmpty)
        #expect(again.changes.isEmpty)
    }

    /// `--previous` when windows vanish and appear: a window whose events are gone gets a revision to zero that takes
    /// back what was posted, a window that is new is published as it is, and nothing else is emitted.
    @Test func previousRunRevisesVanishedWindowsToZeroAndPublishesNewOnes() throws {
        let dir = tempDir("bfwin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = backfillMessages()
        try writeInput(before, dir + "/before.jsonl")
        // acme's api_request events of 02:00–03:00 (lines 25, 29, 31, 35) become events outside the period, so the
        // other lines keep their positions; one new api_request event opens the 20:00 window.
        var after = before
        for i in [25, 29, 31, 35] {
            #expect(String(decoding: before[i].value, as: UTF8.self).contains(#""type":"api_request","subject":"acme""#))
            after[i] = event("moved-\(i)", "api_request", "acme", "2026-09-15T00:00:00Z")
        }
        after.append(event("ev-late", "api_request", "acme", "2026-10-01T20:10:00Z"))
        try writeInput(after, dir + "/after.jsonl")
        _ = try backfill(config, input: [dir + "/before.jsonl"], out: dir + "/a")
        let r = try backfill(config, input: [dir + "/after.jsonl"], out: dir + "/b", previous: dir + "/a")

        let published = try jsonLines(dir + "/b/billing-events.jsonl")
        #expect(published.count == 2, "\(published)")
        let gone = try #require(published.first { $0["windowStart"] as? String == "2026-10-01T02:00:00Z" })
        let previousWindow = try #require(try jsonLines(dir + "/a/billing-events.jsonl").first {
            $0["subject"] as? String == "acme" && $0["meter"] as? String == "api_calls" && $0["windowStart"] as? String == "2026-10-01T02:00:00Z"
        })
        #expect(previousWindow["quantity"] as? String == "4")
        #expect(gone["kind"] as? String == "revision" && gone["revision"] as? Int == 1)
        #expect(gone["subject"] as? String == "acme" && gone["meter"] as? String == "api_calls")
        #expect(try Quantity(gone["quantity"] as! String) == .zero)
        #expect(try Amount(gone["amount"] as! String) == .zero)
        #expect(try Amount(gone["amountDelta"] as! String) == Amount("-1"))
        #expect(gone["id"] as? String != previousWindow["id"] as? String)
        let new = try #require(published.first { $0["windowStart"] as? String == "2026-10-01T20:00:00Z" })
        #expect(new["kind"] as? String != "revision" && new["subject"] as? String == "acme" && new["meter"] as? String == "api_calls")
        #expect(new["quantity"] as? String == "1")
        #expect(try Amount(new["amount"] as! String) == Amount("0.25"))
        #expect(new["postedAt"] as? String == RFC3339.format(micros: october.1))
        #expect(r.changes.keys.sorted() == ["us-inc|USD|acme"])
        let acme = try #require(r.changes["us-inc|USD|acme"])
        #expect(try acme.new.subtracting(acme.previous) == Amount("-0.75"))
    }

    /// `--previous` counts, by input position, the events whose state changed: a line now malformed (was accepted),
    /// a line now a copy of an earlier event (was accepted), a line now a new event (was a duplicate); with one and
    /// with three shards (positions then come from several shards' lineage), and with duplicates dead-lettered.
    @Test func previousRunCountsEventsThatChangedState() throws {
        let dir = tempDir("bfstate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = backfillMessages()
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        try writeInput(before, dir + "/a/in.jsonl")
        var after = before
        after[5] = Workload.Message(key: [], value: Array("{not json".utf8), timestampMs: 0)
        after[6] = before[4]
        #expect(String(decoding: before[200].value, as: UTF8.self) == String(decoding: before[17].value, as: UTF8.self))
        after[200] = event("ev-new", "api_request", "acme", "2026-10-01T12:34:56Z", "{}")
        try writeInput(after, dir + "/b/in.jsonl")
        // With `duplicatesToDLQ` the now-duplicate line is in the DLQ too (reason DUPLICATE): still a duplicate.
        var duplicatesToDLQ = config
        duplicatesToDLQ.settings.duplicatesToDLQ = true
        for (shards, c) in [(1, config), (3, config), (1, duplicatesToDLQ)] {
            let k = "\(shards)-\(c.settings.duplicatesToDLQ)"
            _ = try backfill(c, input: [dir + "/a/in.jsonl"], out: dir + "/before" + k, shards: shards)
            let r = try backfill(c, input: [dir + "/b/in.jsonl"], out: dir + "/after" + k, previous: dir + "/before" + k, shards: shards)
            let changes = try #require(r.stateChanges, "\(k)")
            #expect(changes.new == 1 && changes.nowDuplicate == 1 && changes.nowRejected == 1, "\(k): \(changes)")
        }
    }

    @Test func badInputGivesAOneLineErrorAndNoCompleteLookingOutput() throws {
        let dir = tempDir("bfbad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func message(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ = try backfill(config, input: [dir + "/missing.jsonl"], out: dir + "/o1") }?.contains("missing.jsonl") == true)
        try writeInput(backfillMessages(), dir + "/in.jsonl.zst")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/in.jsonl.zst"))
        bytes.removeLast(bytes.count / 2)
        try bytes.write(to: URL(fileURLWithPath: dir + "/cut.jsonl.zst"))
        let cut = message { _ = try backfill(config, input: [dir + "/cut.jsonl.zst"], out: dir + "/o2") }
        #expect(cut?.contains("truncated zstd frame") == true, "\(cut ?? "no error")")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o2"))
        var b = Backfill(config: config, from: october.1, to: october.0, out: dir + "/o3")
        b.inputs = [dir + "/in.jsonl.zst"]
        #expect(message { _ = try b.run() }?.contains("is not after") == true)
        try writeInput([event("x", "llm_tokens", "acme", "2026-10-05T00:00:00Z", #"{"tokens":1}"#)], dir + "/oct5.jsonl")
        #expect(message { _ = try backfill(config, input: [dir + "/oct5.jsonl"], out: dir + "/o4") }?.contains("no events in") == true)
        #expect(!FileManager.default.fileExists(atPath: dir + "/o4"))
        for d in ["o2", "o4"] { #expect(!FileManager.default.fileExists(atPath: dir + "/\(d)/report.json")) }
    }

    @Test func progressIsABarOnATerminalAndPlainLinesOtherwise() throws {
        // A real pseudo-terminal: isatty on its slave side is true.
        var master: Int32 = 0, slave: Int32 = 0
        #expect(openpty(&master, &slave, nil, nil, nil) == 0)
        defer { close(master) }
        let tty = Progress(totalBytes: 100, output: FileHandle(fileDescriptor: slave, closeOnDealloc: true))
        tty.finish(bytes: 50, events: 5)
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(master, &buf, buf.count)
        let shown = String(decoding: buf[0..<max(n, 0)], as: UTF8.self)
        #expect(shown.contains("█") && shown.contains("50%") && shown.contains("\r"), "\(shown)")

        let pipe = Pipe()
        let plain = Progress(totalBytes: 100, output: pipe.fileHandleForWriting)
        plain.finish(bytes: 50, events: 5)
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.hasPrefix("backfill: 50%") && !text.contains("█") && !text.contains("\r"), "\(text)")
    }
}

@Suite(.timeLimit(.minutes(2)))
struct BackfillTopicTests {
    @Test func topicIsReadFromTheOffsetsForFromFoundByTimestampSearch() throws {
        let config = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        let cluster = try MockCluster(brokers: 1)
        defer { cluster.close() }
        try cluster.createTopic("usage-archive", partitions: 3)
        let producer = try KafkaProducer(config: ["bootstrap.servers": cluster.bootstrapServers])
        // Two days of September first (before --from), then the October events; message timestamps = event time.
        var early: [Workload.Message] = []
        for i in 0..<60 {
            let t = RFC3339.parseMicros("2026-09-29T00:00:00Z")! + Int64(i) * 2_400_000_000 // every 40 minutes: all before Oct 1
            early.append(event("sep-\(i)", "llm_tokens", i % 2 == 0 ? "acme" : "globex", RFC3339.format(micros: t), #"{"tokens":1}"#))
            early[i].timestampMs = t / 1000
        }
        var october = backfillMessages().filter { !$0.value.starts(with: Array(#"{"specversion":"1.0","id":"early""#.utf8)) }
        for i in october.indices {
            let o = (try? JSONSerialization.jsonObject(with: Data(october[i].value))) as? [String: Any]
            october[i].timestampMs = (o?["time"] as? String).flatMap { RFC3339.parseMicros($0) }.map { $0 / 1000 } ?? RFC3339.parseMicros("2026-10-01T12:00:00Z")! / 1000
        }
        for m in early + october { try producer.produce(topic: "usage-archive", key: m.key, value: m.value, timestampMs: m.timestampMs) }
        try producer.flush(timeoutMs: 30_000)

        let dir = tempDir("bftopic")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var b = Backfill(config: config, from: RFC3339.parseMicros("2026-10-01T00:00:00Z")!, to: RFC3339.parseMicros("2026-10-02T00:00:00Z")!, out: dir + "/t")
        b.topic = "usage-archive"
        b.kafka = ["bootstrap.servers": cluster.bootstrapServers]
        b.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        b.progress = Progress(totalBytes: 1, output: FileHandle(forWritingAtPath: "/dev/null")!, isTerminal: false)
        let r = try b.run()
        // The broker answers offsets-for-times with -1; the timestamp search must skip all 60 September records.
        #expect(r.linesRead == october.count, "read \(r.linesRead), expected \(october.count)")
        #expect(r.counters.outOfRange == 0)
        #expect(r.counters.balanced)
        try writeInput(october, dir + "/oct.jsonl")
        _ = try backfill(config, input: [dir + "/oct.jsonl"], out: dir + "/f")
        func idsAndAmounts(_ path: String) throws -> [String] { try jsonLines(path).map { "\($0["id"]!) \($0["amount"]!)" }.sorted() }
        #expect(try idsAndAmounts(dir + "/t/billing-events.jsonl") == idsAndAmounts(dir + "/f/billing-events.jsonl"))
    }
}

/// `BillingRecords.sortInOutputOrder` sorts by (postedAt, id) exactly as a plain sort of the events does: ids that
/// share their first 8 bytes, ids of other lengths, equal times.
@Suite struct OutputOrderTests {
    @Test func equalsAPlainSortByPostedAtAndId() {
        let seed: UInt64 = 21
        var g = SeededGenerator(seed: seed)
        let t0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        let ids = ["0123456789abcdef", "0123456789abcdee", "01234567", "0123456", "ffffffffffffffff0", "", "a", "0123456789abcdef00"]
        var events: [BillingEvent] = []
        for i in 0..<400 {
            let id = i < ids.count ? ids[i] : String(g.next(), radix: 16)
            let posted = t0 + Int64(g.next() % 4) * UTC.microsPerHour
            events.append(BillingEvent(id: id, kind: .usage, revision: 0, subject: "c", entity: "us", meter: "m", dimensions: [],
                                       windowStart: posted, windowEnd: posted + UTC.microsPerHour, periodStart: t0, periodEnd: t0 + UTC.microsPerDay,
                                       quantity: .zero, periodQuantity: .zero, amount: .zero, amountDelta: nil, currency: Currency(code: "USD")!,
                                       priceBookId: nil, priceBookVersion: nil, tiers: [], eventCount: 1, lineage: [], postedAt: posted))
        }
        let expected = events.sorted { ($0.postedAt, $0.id) < ($1.postedAt, $1.id) }.map { "\($0.postedAt) \($0.id)" }
        var sorted = events
        BillingRecords.sortInOutputOrder(&sorted)
        let got = sorted.map { "\($0.postedAt) \($0.id)" }
        #expect(got == expected, "seed \(seed)")
    }
}
