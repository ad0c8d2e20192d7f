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
}
