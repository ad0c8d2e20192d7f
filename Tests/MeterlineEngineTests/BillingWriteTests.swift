import Foundation
import MeterlineCore
@testable import MeterlineEngine
import Testing

/// `BillingRecords.write` with several encoders writes the same bytes as with one: every count of events against
/// the run length (none, fewer than a run, exact rounds, a partial last round), two and three encoders.
@Suite struct BillingWriteTests {
    func events(_ n: Int, seed: UInt64) -> [BillingEvent] {
        var g = SeededGenerator(seed: seed)
        let t0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        return (0..<n).map { i in
            let posted = t0 + Int64(g.next() % 6) * UTC.microsPerHour
            let quantity = Quantity(raw: Int128(g.next() % 1_000_000) * 1_000_000_000)
            return BillingEvent(id: String(format: "%016llx%016llx", g.next(), UInt64(i)), kind: .usage, revision: 0,
                                subject: "cust-\(g.next() % 50)", entity: "us", meter: "tokens",
                                dimensions: [("model", i % 3 == 0 ? "large" : "small\"\\\u{1}")], windowStart: posted,
                                windowEnd: posted + UTC.microsPerHour, periodStart: t0, periodEnd: t0 + 31 * UTC.microsPerDay,
                                quantity: quantity, periodQuantity: quantity, amount: Amount(raw: Int128(i)), amountDelta: nil,
                                currency: Currency(code: "USD")!, priceBookId: "std", priceBookVersion: 1, tiers: [],
                                eventCount: i + 1, references: LineageReferences(source: "in.jsonl", key: "k\(i)"), postedAt: posted)
        }
    }

    @Test func parallelEncodersWriteTheSameBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-billingwrite-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seed: UInt64 = 7
        for n in [0, 1, 5, 12, 13, 37, 1000] {
            let input = events(n, seed: seed &+ UInt64(n))
            try BillingRecords.write(input, to: dir + "/one.jsonl")
            let expected = try Data(contentsOf: URL(fileURLWithPath: dir + "/one.jsonl"))
            #expect(expected.filter { $0 == 0x0A }.count == n, "n \(n)")
            for encoders in [2, 3] {
                for run in [1, 3, 4, 1000] {
                    try BillingRecords.write(input, to: dir + "/many.jsonl", encoders: encoders, run: run)
                    let got = try Data(contentsOf: URL(fileURLWithPath: dir + "/many.jsonl"))
                    #expect(got == expected, "n \(n), encoders \(encoders), run \(run), seed \(seed)")
                }
            }
        }
        // The public default run length, over more than one round of two encoders.
        let many = events(3 * BillingRecords.encodeRun + 17, seed: seed)
        try BillingRecords.write(many, to: dir + "/one.jsonl")
        try BillingRecords.write(many, to: dir + "/many.jsonl", encoders: 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/many.jsonl")) == Data(contentsOf: URL(fileURLWithPath: dir + "/one.jsonl")))
    }

    /// Reading a billing-events file gives the same events by the direct reader of the canonical layout as by
    /// `JSONSerialization` + `decode`, and the direct reader does take the lines it should (no escapes in them).
    @Test func canonicalLinesReadAsTheGeneralParserReadsThem() throws {
        let t0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var all = events(60, seed: 11)   // every third has a dimension value with escapes
        for (i, e) in all.enumerated() {
            var v = e
            switch i % 5 {
            case 0: v.amountDelta = Amount(raw: -Int128(i) * 7); v.kind = .revision; v.revision = i
            case 1: v.priceBookId = nil; v.priceBookVersion = nil; v.reason = "minimum commitment"
            case 2: v.tiers = [TierLine(tier: 1, quantity: Quantity(raw: 5_000_000_000), unitAmount: Amount(raw: 12), flatAmount: .zero, amount: Amount(raw: 60)),
                               TierLine(tier: 2, quantity: Quantity(raw: 1), unitAmount: Amount(raw: 3), flatAmount: Amount(raw: 500), amount: Amount(raw: -1))]
            case 3: v.dimensions = [("zone", "b"), ("model", "large")]; v.references = LineageReferences(["a#1", "b#2"])
            default: v.dimensions = []; v.references = .none; v.windowStart = t0 - 1; v.eventCount = 0
            }
            all[i] = v
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-billingread-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try BillingRecords.write(all, to: dir + "/b.jsonl")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.jsonl"))
        var direct = 0
        for (n, line) in data.split(separator: 0x0A).enumerated() {
            try Data(line).withUnsafeBytes { b in
                let slow = try BillingRecords.decodeLine(b, file: "b", line: n + 1, fast: false)
                let fast = try BillingRecords.decodeLine(b, file: "b", line: n + 1)
                #expect(fast.json() == slow.json(), "line \(n + 1)")
                #expect(fast.lineage == slow.lineage && fast.dimensions.map(\.0) == slow.dimensions.map(\.0), "line \(n + 1)")
                if BillingRecords.decodeCanonical(b) != nil { direct += 1 }
                // The layout `writeJSON` writes, without escapes: read directly.
                if !line.contains(UInt8(ascii: "\\")) { #expect(BillingRecords.decodeCanonical(b) != nil, "line \(n + 1)") }
            }
        }
        #expect(direct >= 35, "most lines are read directly (\(direct) of 60)")
        // Another writer's key order and number forms: the general parser's result, or its error.
        let reordered = #"{"kind":"usage","id":"x","revision":0,"subject":"s","entity":"e","meter":"m","dimensions":{},"windowStart":"2026-10-01T00:00:00Z","windowEnd":"2026-10-01T01:00:00Z","periodStart":"2026-10-01T00:00:00Z","periodEnd":"2026-11-01T00:00:00Z","quantity":"1","periodQuantity":"1","amount":"2","currency":"USD","priceBook":null,"tiers":[],"eventCount":1.0,"postedAt":"2026-10-01T00:00:00Z","lineage":[]}"#
        try Array(reordered.utf8).withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in
            #expect(BillingRecords.decodeCanonical(b) == nil)
            let e = try BillingRecords.decodeLine(b, file: "b", line: 1)
            #expect(e.eventCount == 1 && e.id == "x")
        }
        Array(#"{"id":"x","kind":"nope"}"#.utf8).withUnsafeBytes { b in
            #expect(throws: RecordError.self) { try BillingRecords.decodeLine(b, file: "b", line: 7) }
        }
    }
}
