import MeterlineCore
import MeterlineLedger
import Testing

func billingEvent(_ i: Int, subject: String, amount: Amount, periodStart: Int64, postedAt: Int64) -> BillingEvent {
    BillingEvent(id: String(repeating: "0", count: 8 - String(i).count) + String(i), kind: .usage, revision: 0, subject: subject, entity: "us", meter: "tokens", dimensions: [],
                 windowStart: postedAt, windowEnd: postedAt + UTC.microsPerHour, periodStart: periodStart, periodEnd: periodStart + 31 * UTC.microsPerDay,
                 quantity: .zero, periodQuantity: .zero, amount: amount, amountDelta: nil, currency: Currency(code: "USD")!,
                 priceBookId: "std", priceBookVersion: 1, tiers: [], eventCount: 1, lineage: [], postedAt: postedAt)
}

@Suite struct JournalBookTests {
    let entity = LegalEntity(id: "us", currency: Currency(code: "USD")!, unbilledReceivable: "1210", usageRevenue: "4010")

    @Test func cumulativeRoundingHasNoDriftOver100kWindows() throws {
        var book = JournalBook(entities: [entity])
        let seed: UInt64 = 0xC0FFEE
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        let period = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var exact: [String: Amount] = [:]
        var events: [BillingEvent] = []
        for i in 0..<100_000 {
            let subject = "c-\(i % 10)"
            // Amounts with 12 decimals, some negative (volume pricing can lower the period amount).
            var raw = Int128(next() % 5_000_000_000_000)
            if next() % 10 == 0 { raw = -raw / 3 }
            let a = Amount(raw: raw)
            exact[subject] = try (exact[subject] ?? .zero).adding(a)
            events.append(billingEvent(i, subject: subject, amount: a, periodStart: period, postedAt: period + Int64(i % 720) * UTC.microsPerHour))
        }
        book.add(events)
        var entries = book.post(through: period + 10 * UTC.microsPerDay)
        entries += book.finish()
        #expect(book.unbalanced.isEmpty)
        #expect(entries.allSatisfy { $0.isBalanced }, "seed \(seed)")
        for (subject, total) in exact {
            var net: Int128 = 0
            for e in entries { for l in e.lines where l.account == "1210" && l.subject == subject { net += l.debit - l.credit } }
            let expected = try total.minorUnits(digits: 2, mode: .halfAwayFromZero)
            #expect(net == expected, "subject \(subject), seed \(seed)")
        }
    }

    @Test func negativeIncrementReversesTheSides() throws {
        var book = JournalBook(entities: [entity])
        let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        book.add([billingEvent(1, subject: "c", amount: try Amount("-2.50"), periodStart: p, postedAt: p)])
        let entries = book.finish()
        let lines = try #require(entries.first?.lines)
        #expect(lines.contains { $0.account == "4010" && $0.debit == 250 })
        #expect(lines.contains { $0.account == "1210" && $0.credit == 250 })
    }

    @Test func largeIntervalsSplitIntoBalancedPartsAndIdsAreStable() throws {
        func entries() throws -> [JournalEntry] {
            var book = JournalBook(entities: [entity])
            book.maxLines = 10
            let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
            book.add(try (0..<23).map { billingEvent($0, subject: "c-\($0)", amount: try Amount("1.005"), periodStart: p, postedAt: p) })
            return book.finish()
        }
        let a = try entries(), b = try entries()
        #expect(a.count == 5) // 23 customers × 2 lines, ≤ 10 lines per part
        #expect(a.allSatisfy { $0.isBalanced && $0.lines.count <= 10 })
        #expect(a.map { $0.json() } == b.map { $0.json() })
        #expect(Set(a.map(\.journalId)).count == 5)
    }

    /// `finish(adding:)` reads events in place; its entries must be those of `add` then `finish`, with and without
    /// events already buffered (then it falls back to `add`), across entities, currencies, days and signs.
    @Test func finishAddingEqualsAddThenFinish() throws {
        let eu = LegalEntity(id: "eu", currency: Currency(code: "EUR")!, unbilledReceivable: "1220", usageRevenue: "4020")
        let seed: UInt64 = 0x5EED_0B0C
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var events: [BillingEvent] = []
        for i in 0..<3_000 {
            var e = billingEvent(Int(next() % 90_000_000), subject: "c-\(next() % 40)", amount: Amount(raw: Int128(next() % 9_000_000_000_000) - 1_000_000_000_000),
                                 periodStart: p, postedAt: p + Int64(next() % 96) * UTC.microsPerHour)
            e.id += "-\(i)"  // unique ids
            if next() % 3 == 0 { e.entity = "eu"; e.currency = Currency(code: "EUR")! }
            events.append(e)
        }
        func book() -> JournalBook { JournalBook(entities: [entity, eu]) }
        var a = book()
        a.add(events)
        let viaAdd = a.finish()
        var b = book()
        let inPlace = b.finish(adding: events)
        #expect(viaAdd.count == 8, "seed \(seed)")  // 4 posting days × 2 (entity, currency)
        #expect(inPlace.map { $0.json() } == viaAdd.map { $0.json() }, "seed \(seed)")
        #expect(b.postedThrough == a.postedThrough)
        // Half posted first: the cumulative positions carry over, and buffered events are posted with the rest.
        let half = events.count / 2
        var c = book(), d = book()
        c.add(Array(events[..<half])); d.add(Array(events[..<half]))
        let mid = p + 48 * UTC.microsPerHour
        #expect(c.post(through: mid).map { $0.json() } == d.post(through: mid).map { $0.json() })
        c.add(Array(events[half...]))
        #expect(d.finish(adding: Array(events[half...])).map { $0.json() } == c.finish().map { $0.json() }, "seed \(seed)")
        // Nothing buffered but positions from earlier posts: the in-place path continues them.
        var e = book(), f = book()
        e.add(Array(events[..<half])); f.add(Array(events[..<half]))
        #expect(e.finish().map { $0.json() } == f.finish().map { $0.json() })
        f.add(Array(events[half...]))
        #expect(e.finish(adding: Array(events[half...])).map { $0.json() } == f.finish().map { $0.json() }, "seed \(seed)")
    }

    /// `seed(with:)` leaves a book where posting the events would have (positions, how far it posted), without
    /// posting them: further events post the same entries after either. Events of several entities, currencies,
    /// subjects, periods and posting days, negative amounts, events of an entity the book does not know, a book that
    /// already held positions, and positions whose sums overflow (replayed in posting order, as posting meets them).
    @Test func seedLeavesTheBookWherePostingWould() throws {
        let eu = LegalEntity(id: "eu", currency: Currency(code: "EUR")!, unbilledReceivable: "1220", usageRevenue: "4020")
        let jp = LegalEntity(id: "jp", currency: Currency(code: "JPY")!, unbilledReceivable: "1230", usageRevenue: "4030")
        let seed: UInt64 = 0x5EED_5EED
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        func events(_ n: Int, tag: String, huge: Bool = false) -> [BillingEvent] {
            (0..<n).map { i in
                let period = p + Int64(next() % 2) * 31 * UTC.microsPerDay
                var e = billingEvent(Int(next() % 90_000_000), subject: "c-\(next() % 30)",
                                     amount: Amount(raw: Int128(next() % 9_000_000_000_000) - 2_000_000_000_000),
                                     periodStart: period, postedAt: period + Int64(next() % 72) * UTC.microsPerHour)
                e.id += "-\(tag)\(i)"
                switch next() % 5 {
                case 0: e.entity = "eu"; e.currency = Currency(code: "EUR")!
                case 1: e.entity = "jp"; e.currency = Currency(code: "JPY")!
                case 2 where next() % 8 == 0: e.entity = "unknown"
                default: break
                }
                if next() % 2 == 0 { e.amountDelta = Amount(raw: Int128(next() % 3_000_000_000) - 1_500_000_000) }
                if huge && i % 7 == 0 { e.subject = "c-huge"; e.amount = Amount(raw: Int128.max / 3); e.amountDelta = nil }
                return e
            }
        }
        let earlier = events(500, tag: "e"), previous = events(4_000, tag: "p", huge: true), later = events(1_500, tag: "l")
        func book() -> JournalBook { JournalBook(entities: [entity, eu, jp]) }
        for startsWithPositions in [false, true] {
            var posted = book(), seeded = book()
            if startsWithPositions {
                _ = posted.finish(adding: earlier)
                _ = seeded.finish(adding: earlier)
            }
            _ = posted.finish(adding: previous)
            seeded.seed(with: previous)
            let a = posted.state(), b = seeded.state()
            #expect(a.positions == b.positions, "seed \(seed)")
            #expect(a.postedThrough == b.postedThrough && b.pending.isEmpty, "seed \(seed)")
            posted.idNamespace = "n"; seeded.idNamespace = "n"
            #expect(posted.finish(adding: later).map { $0.json() } == seeded.finish(adding: later).map { $0.json() }, "seed \(seed)")
        }
    }
}
