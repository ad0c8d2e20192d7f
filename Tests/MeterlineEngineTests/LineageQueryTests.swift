import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineLineage
import Testing

/// One embedded run (20 000 events, the embedded default config) shared by the tests below. Checkpoints every
/// 2 500 messages so a source has several lineage files and hourly keys span files.
enum LineageFixture {
    static let out: Result<String, any Error> = {
        do {
            let config = try ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "embedded")
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-lineage-\(getpid())").path
            atexit {
                try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("meterline-lineage-\(getpid())").path)
            }
            var run = EmbeddedRun(config: config, workload: Workload(events: 20_000), outDirectory: out)
            run.now = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
            run.checkpointEvery = 2_500
            let summary = try run.run()
            guard summary.complete else { throw LineageQueryError("embedded run incomplete:\n\(summary.text)") }
            return .success(out)
        } catch {
            return .failure(error)
        }
    }()

    static func directory() throws -> String { try out.get() }

    /// The test seed: MET_SEED if set, else random (printed on failure).
    static func seed() -> UInt64 {
        if let s = ProcessInfo.processInfo.environment["MET_SEED"], let v = UInt64(s) { return v }
        return UInt64.random(in: 0...UInt64.max)
    }

    /// Copies DIR to a fresh temporary directory.
    static func copy(_ dir: String) throws -> String {
        let to = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-lineage-copy-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: dir, toPath: to)
        return to
    }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct LineageQueryTests {
    /// The reconciliation a billing event must pass: count and Σ value against eventCount and quantity.
    func check(_ b: BillingEventLineage, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
        let r = b.record
        let context = Comment(rawValue: "seed \(seed), billing event \(r.id) (\(r.kind), \(r.meter)): \(b.note)")
        #expect(b.totals.count == r.eventCount, context, sourceLocation: sourceLocation)
        #expect(b.totals.valueSum == r.quantity.raw, context, sourceLocation: sourceLocation)
        #expect(b.reconciles, context, sourceLocation: sourceLocation)
        #expect(b.countDifference == 0 && b.quantityDifference == 0 && b.laterEvents == 0, context, sourceLocation: sourceLocation)
        let ids = b.events.map(\.id)
        #expect(Set(ids).count == ids.count, context, sourceLocation: sourceLocation)
        #expect(b.duplicateIds.isEmpty, context, sourceLocation: sourceLocation)
        // Events in offset order, inside the window, from the referenced source.
        for w in b.windows {
            #expect(zip(w.events, w.events.dropFirst()).allSatisfy { $0.offset < $1.offset }, context, sourceLocation: sourceLocation)
        }
        let start = RFC3339.parseMicros(r.windowStart)!, end = RFC3339.parseMicros(r.windowEnd)!
        #expect(b.events.allSatisfy { $0.timeMicros >= start && $0.timeMicros < end }, context, sourceLocation: sourceLocation)
        if r.meter == "api_calls" {
            // COUNT meter: each event records value 1 (1e9 raw), so Σ value = count = quantity.
            #expect(b.events.allSatisfy { $0.value == 1_000_000_000 }, context, sourceLocation: sourceLocation)
        }
    }

    @Test func randomBillingEventsReconcileWithTheirEvents() throws {
        let dir = try LineageFixture.directory()
        let seed = LineageFixture.seed()
        var rng = SeededGenerator(seed: seed)
        let query = try LineageQuery(directory: dir)
        let ids = query.billing.keys.sorted()
        #expect(ids.count > 1_000, "seed \(seed)")
        var sample = (0..<40).map { _ in ids[Int(rng.next() % UInt64(ids.count))] }
        // The largest windows are the likeliest to span several checkpoint files: take some of them too.
        sample += query.billing.values.sorted { ($0.eventCount, $0.id) > ($1.eventCount, $1.id) }.prefix(10).map(\.id)
        var meters: Set<String> = []
        var multiFile = 0
        for id in sample {
            let b = try query.billingEvent(id)
            check(b, seed: seed)
            meters.insert(b.record.meter)
            if b.windows.contains(where: { $0.files.count > 1 }) { multiFile += 1 }
            // The JSON form parses and carries every event.
            let json = try JSONSerialization.jsonObject(with: Data(b.json().utf8)) as? [String: Any]
            let windows = json?["windows"] as? [[String: Any]] ?? []
            #expect(windows.reduce(0) { $0 + (($1["events"] as? [Any])?.count ?? 0) } == b.totals.count, "seed \(seed)")
        }
        #expect(meters == ["tokens", "api_calls"], "seed \(seed): both meters sampled")
        print("lineage: \(sample.count) billing events reconciled (\(multiFile) with keys spread over several files), seed \(seed)")
    }

    /// Keys whose events are spread over several checkpoint files of their source: every one of them in the
    /// shared run (found from the files' key lists), plus a run built so that one window spans four files.
    @Test func keysSpreadOverSeveralFiles() throws {
        let dir = try LineageFixture.directory()
        let query = try LineageQuery(directory: dir)
        var filesOf: [String: Int] = [:] // "<source>#<key>" → files holding it
        for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/lineage") where name.hasSuffix(".mlz") {
            let f = try LineageFile(path: dir + "/lineage/" + name)
            for k in f.keys { filesOf["\(f.source)#\(k)", default: 0] += 1 }
        }
        let spread = query.billing.values.filter { $0.lineage.contains { filesOf[$0, default: 0] > 1 } }
        for r in spread {
            let b = try query.billingEvent(r.id)
            check(b, seed: 0)
            #expect(b.windows[0].files.count == filesOf[r.lineage[0]])
        }
        print("lineage: \(spread.count) billing events of the shared run have keys in several files; all reconcile")

    }

    /// A hand-built output directory: one key over three checkpoint files of a source, and a source whose name
    /// holds '#' and '.' (an input file in a backfill) with a key that holds '#' too.
    @Test func keyOverThreeFilesAndAwkwardSourceNames() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-lineage-hand-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/lineage", withIntermediateDirectories: true)
        let key = "acme|tokens|model=large|2026-10-01T00:00:00Z"
        let other = "acme|tokens|model=small|2026-10-01T00:00:00Z"
        let t0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var offset: Int64 = 0
        for (file, n) in [3, 4, 3].enumerated() {
            var w = LineageWriter()
            let first = offset
            for i in 0..<n {
                w.append(key: key, event: LineageEvent(id: "e\(offset)", source: "test", timeMicros: t0 + offset * 60_000_000,
                                                       value: Int128(offset + 1) * 1_000_000_000 + 500_000_000, offset: offset))
                if i == 0 { w.append(key: other, event: LineageEvent(id: "o\(file)", source: "test", timeMicros: t0, value: 7, offset: offset)) }
                offset += 1
            }
            _ = try w.write(directory: dir + "/lineage", source: "usage-0", firstOffset: first, lastOffset: offset - 1)
        }
        // "usage-00" must not be mistaken for files of "usage-0" (and vice versa).
        var decoy = LineageWriter()
        decoy.append(key: key, event: LineageEvent(id: "decoy", source: "test", timeMicros: t0, value: 1, offset: 0))
        _ = try decoy.write(directory: dir + "/lineage", source: "usage-00", firstOffset: 0, lastOffset: 0)
        let awkwardSource = "in#put.2026-10.jsonl", awkwardKey = "sub#1|tokens||2026-10-01T00:00:00Z"
        var aw = LineageWriter()
        aw.append(key: awkwardKey, event: LineageEvent(id: "a1", source: "s", timeMicros: t0, value: 2_000_000_000, offset: 1))
        aw.append(key: awkwardKey, event: LineageEvent(id: "a2", source: "s", timeMicros: t0 + 1, value: 3_000_000_000, offset: 2))
        _ = try aw.write(directory: dir + "/lineage", source: awkwardSource, firstOffset: 1, lastOffset: 2)

        func billing(_ id: String, _ quantity: String, _ count: Int, _ ref: String) -> String {
            #"{"id":"\#(id)","kind":"usage","revision":0,"subject":"acme","entity":"us-inc","meter":"tokens","dimensions":{"model":"large"},"windowStart":"2026-10-01T00:00:00Z","windowEnd":"2026-10-01T01:00:00Z","periodStart":"2026-10-01T00:00:00Z","periodEnd":"2026-11-01T00:00:00Z","quantity":"\#(quantity)","periodQuantity":"\#(quantity)","amount":"0.01","currency":"USD","priceBook":null,"tiers":[],"eventCount":\#(count),"postedAt":"2026-10-01T00:00:00Z","lineage":["\#(ref)"]}"#
        }
        let sum = (1...10).map { Double($0) + 0.5 }.reduce(0, +) // 60
        try [billing("b1", "\(Int(sum))", 10, "usage-0#\(key)"), billing("b2", "5", 2, "\(awkwardSource)#\(awkwardKey)"),
             billing("b3", "59", 10, "usage-0#\(key)"), billing("b4", "24", 6, "usage-0#\(key)")]
            .joined(separator: "\n").write(toFile: dir + "/billing-events.jsonl", atomically: true, encoding: .utf8)

        let q = try LineageQuery(directory: dir)
        let b1 = try q.billingEvent("b1")
        check(b1, seed: 0)
        #expect(b1.windows[0].files.count == 3)
        #expect(b1.events.map(\.id) == (0..<10).map { "e\($0)" })
        let b2 = try q.billingEvent("b2")
        check(b2, seed: 0)
        #expect(b2.windows[0].source == awkwardSource && b2.windows[0].key == awkwardKey)
        // A quantity that does not match is reported, with the difference.
        let b3 = try q.billingEvent("b3")
        #expect(!b3.reconciles)
        #expect(b3.quantityDifference == 1_000_000_000 && b3.countDifference == 0)
        // A billing event decided before late events reached its key (a later revision counts those): it counted
        // the first eventCount events in offset order.
        let b4 = try q.billingEvent("b4")
        #expect(b4.reconciles, "\(b4.note)")
        #expect(b4.laterEvents == 4 && b4.counted == EventTotals(count: 6, valueSum: 24_000_000_000) && b4.totals.count == 10)
        #expect(throws: LineageQueryError.self) { try q.journalLine("JL-x") } // no journal file
    }

    @Test func randomJournalLineReconciles() throws {
        let dir = try LineageFixture.directory()
        let seed = LineageFixture.seed()
        var rng = SeededGenerator(seed: seed)
        let opened = ContinuousClock.now
        let query = try LineageQuery(directory: dir)
        let openTime = ContinuousClock.now - opened
        let lineIds = query.journalLines.keys.sorted()
        #expect(!lineIds.isEmpty)
        let id = lineIds[Int(rng.next() % UInt64(lineIds.count))]
        let started = ContinuousClock.now
        let r = try query.journalLine(id)
        let latency = ContinuousClock.now - started
        print("lineage: journalLine(\(id)) \(r.billingEvents.count) billing events, \(r.billingEvents.reduce(0) { $0 + $1.totals.count }) events in \(latency) (index open \(openTime)); line \(r.line.amountMinor), rounded Σ \(r.roundedSumMinor), cumulative \(r.cumulativeMinor), seed \(seed)")
        #expect(!r.billingEvents.isEmpty, "seed \(seed), line \(id)")
        #expect(r.cumulativeMinor == r.line.amountMinor, "seed \(seed), line \(id): cumulative rounding replay")
        #expect(r.reconciles, "seed \(seed), line \(id)")
        for b in r.billingEvents { check(b, seed: seed) }
        #expect(Set(r.billingEvents.map(\.record.id)).count == r.billingEvents.count, "seed \(seed), line \(id)")
        // Per meter (a customer's lines may gather several meters), the events are distinct.
        let ids = r.billingEvents.flatMap { b in b.events.map { "\(b.record.meter)|\($0.id)" } }
        #expect(Set(ids).count == ids.count, "seed \(seed), line \(id)")
        let json = try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any]
        #expect((json?["billingEvents"] as? [Any])?.count == r.billingEvents.count, "seed \(seed)")

        // Every line of the run replays exactly (cheap: the reconciliation does not need the lineage blocks).
        var off = 0
        for l in lineIds.prefix(400) {
            let x = try query.journalLine(l)
            if x.cumulativeMinor != x.line.amountMinor { off += 1 }
        }
        #expect(off == 0, "\(off) journal lines do not match the cumulative rounding replay")
    }

    @Test func unknownIdsNameTheFile() throws {
        let dir = try LineageFixture.directory()
        let query = try LineageQuery(directory: dir)
        #expect(throws: LineageQueryError("no billing event deadbeef in \(dir)/billing-events.jsonl", file: "\(dir)/billing-events.jsonl")) {
            try query.billingEvent("deadbeef")
        }
        do {
            _ = try query.journalLine("JL-nope")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "no journal line JL-nope in \(dir)/journal-entries.jsonl")
        }
        #expect(throws: LineageQueryError.self) { try LineageQuery(directory: dir + "/does-not-exist") }
    }

    @Test func corruptLineageFilesGiveErrorsNamingTheFile() throws {
        let dir = try LineageFixture.directory()
        let seed = LineageFixture.seed()
        var rng = SeededGenerator(seed: seed)
        let copy = try LineageFixture.copy(dir)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let clean = try LineageQuery(directory: copy)
        let names = try FileManager.default.contentsOfDirectory(atPath: copy + "/lineage").filter { $0.hasSuffix(".mlz") }.sorted()
        #expect(names.count >= 2)

        // Pick two files of different sources: flip a byte in the first block of one, truncate the other.
        let flipName = names[Int(rng.next() % UInt64(names.count))]
        let flipSource = String(flipName.prefix { $0 != "." })
        let others = names.filter { !$0.hasPrefix(flipSource + ".") }
        let truncName = others[Int(rng.next() % UInt64(others.count))]
        let truncSource = String(truncName.prefix { $0 != "." })
        let flipPath = copy + "/lineage/" + flipName, truncPath = copy + "/lineage/" + truncName

        // A billing event whose key is stored in block 0 of the flipped file (the first key in key order).
        let flipped = try LineageFile(path: flipPath)
        let firstKey = try #require(flipped.keys.first)
        let victim = try #require(clean.billing.values.first { $0.lineage.contains("\(flipSource)#\(firstKey)") }, "seed \(seed)")
        let truncVictim = try #require(clean.billing.values.first { $0.lineage.contains { $0.hasPrefix(truncSource + "#") } }, "seed \(seed)")
        _ = try clean.billingEvent(victim.id)
        _ = try clean.billingEvent(truncVictim.id)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: flipPath))
        let at = 16 + Int(rng.next() % 64) // inside block 0's first zstd frame
        bytes[at] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: flipPath))
        let whole = try Data(contentsOf: URL(fileURLWithPath: truncPath))
        try whole.prefix(whole.count * Int(rng.next() % 90 + 5) / 100).write(to: URL(fileURLWithPath: truncPath))

        let query = try LineageQuery(directory: copy)
        do {
            _ = try query.billingEvent(victim.id)
            Issue.record("seed \(seed): flipped byte \(at) of \(flipName) went unnoticed")
        } catch {
            #expect(error.file == flipPath, "seed \(seed): \(error)")
            #expect(error.description.contains(flipPath), "seed \(seed): \(error)")
            print("lineage: flipped byte → \(error)")
        }
        do {
            _ = try query.billingEvent(truncVictim.id)
            Issue.record("seed \(seed): truncated \(truncName) went unnoticed")
        } catch {
            #expect(error.file == truncPath, "seed \(seed): \(error)")
            #expect(error.description.contains(truncPath), "seed \(seed): \(error)")
            print("lineage: truncated → \(error)")
        }
        // A journal line over the damaged billing event fails the same way.
        if let line = query.journalLines.values.first(where: { $0.billingEvents.contains(victim.id) }) {
            #expect(throws: LineageQueryError.self) { try query.journalLine(line.lineId) }
        }
        // Every billing event either resolves and reconciles, or fails naming one of the two damaged files.
        var failed = 0
        for id in query.billing.keys.sorted().prefix(2_000) {
            do { _ = try query.billingEvent(id) } catch {
                failed += 1
                #expect(error.file == flipPath || error.file == truncPath, "seed \(seed): \(error)")
            }
        }
        #expect(failed > 0, "seed \(seed)")
    }
}
