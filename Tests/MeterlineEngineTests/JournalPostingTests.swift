import MeterlineConfig
import MeterlineCore
@testable import MeterlineEngine
import MeterlineLedger
import Testing

/// `Backfill.postJournal` posts the legal entities' billing events with two books at once; its entries must be the
/// ones a single book gives, in the same order.
@Suite struct JournalPostingTests {
    /// Entities whose "entity|currency" texts sort otherwise than their names do ("us" < "us-inc", but
    /// "us-inc|USD" < "us|USD"), one that books in two currencies, and events of an entity that is not configured.
    static func configuration() throws -> Configuration {
        var c = try ConfigLoader.parse(yaml: testConfigYAML, file: "test.yaml")
        c.entities = [
            LegalEntity(id: "us", currency: Currency(code: "USD")!, unbilledReceivable: "1210", usageRevenue: "4010"),
            LegalEntity(id: "us-inc", currency: Currency(code: "USD")!, unbilledReceivable: "1211", usageRevenue: "4011",
                        revenueByMeter: ["api_calls": "4012"]),
            LegalEntity(id: "eu", currency: Currency(code: "EUR")!, unbilledReceivable: "1220", usageRevenue: "4020"),
        ]
        return c
    }

    static func events(count: Int, seed: UInt64) -> [BillingEvent] {
        var g = SeededGenerator(seed: seed)
        let day = UTC.microsPerDay
        let period = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        let entities = ["us", "us-inc", "eu", "eu", "us-inc", "unknown"]
        return (0..<count).map { i in
            let entity = entities[Int(g.next() % UInt64(entities.count))]
            let currency = Currency(code: entity == "eu" || (entity == "us-inc" && g.next() % 4 == 0) ? "EUR" : "USD")!
            let postedAt = period + Int64(g.next() % 3) * day + Int64(g.next() % UInt64(day))
            var raw = Int128(g.next() % 3_000_000_000_000)
            if g.next() % 8 == 0 { raw = -raw / 2 }
            let id = String(g.next(), radix: 16) + String(i, radix: 16)
            return BillingEvent(id: id, kind: .usage, revision: 0, subject: "cust-\(g.next() % 40)", entity: entity,
                                meter: g.next() % 2 == 0 ? "api_calls" : "tokens", dimensions: [],
                                windowStart: postedAt, windowEnd: postedAt + UTC.microsPerHour, periodStart: period,
                                periodEnd: period + 31 * day, quantity: .zero, periodQuantity: .zero, amount: Amount(raw: raw),
                                amountDelta: nil, currency: currency, priceBookId: "std", priceBookVersion: 1, tiers: [],
                                eventCount: 1, lineage: [], postedAt: postedAt)
        }
    }

    @Test func twoBooksGiveOneBooksEntries() throws {
        let config = try JournalPostingTests.configuration()
        for seed: UInt64 in [1, 2, 3] {
            let events = JournalPostingTests.events(count: 3_000, seed: seed)
            var book = JournalBook(configuration: config)
            let expected = book.finish(adding: events)
            let got = Backfill.postJournal(events, configuration: config)
            #expect(book.unbalanced.isEmpty && got.unbalanced.isEmpty, "seed \(seed)")
            #expect(got.entries.count == expected.count, "seed \(seed)")
            let firstDifference = zip(got.entries, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(firstDifference == nil, "seed \(seed): entries differ first at \(firstDifference ?? -1)")
            // The split is not trivial: several groups share posting dates, and both entity orders occur.
            #expect(Set(expected.map(\.entity)).count == 3, "seed \(seed)")
        }
    }

    @Test func oneEntityIsPostedByOneBook() throws {
        let config = try JournalPostingTests.configuration()
        let events = JournalPostingTests.events(count: 2_000, seed: 9).filter { $0.entity == "eu" }
        var book = JournalBook(configuration: config)
        #expect(Backfill.postJournal(events, configuration: config).entries == book.finish(adding: events))
    }
}
