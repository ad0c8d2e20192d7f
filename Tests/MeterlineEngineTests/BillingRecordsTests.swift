import Foundation
@testable import MeterlineCore
import MeterlineEngine
import Testing

/// Billing events read back from their JSON (`BillingRecords.decode`) write the same JSON again, whichever form
/// their lineage references were made in: a window's (source, key) pair, as the pipeline publishes them, or texts.
@Suite struct BillingRecordsTests {
    func event(_ references: LineageReferences) -> BillingEvent {
        let t0 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        return BillingEvent(id: "0123456789abcdef0123456789abcdef", kind: .usage, revision: 0, subject: "cust-1", entity: "us",
                            meter: "tokens", dimensions: [("model", "x\"y")], windowStart: t0, windowEnd: t0 + UTC.microsPerHour,
                            periodStart: t0, periodEnd: t0 + 31 * UTC.microsPerDay, quantity: Quantity(raw: 1_500_000_000),
                            periodQuantity: Quantity(raw: 1_500_000_000), amount: Amount(raw: 3), amountDelta: nil,
                            currency: Currency(code: "USD")!, priceBookId: "std", priceBookVersion: 1, tiers: [], eventCount: 2,
                            references: references, postedAt: t0)
    }

    func roundTrip(_ e: BillingEvent) throws -> BillingEvent {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(e.jsonBytes())) as? [String: Any])
        return try BillingRecords.decode(o, file: "test", line: 1)
    }

    @Test func aWindowsReferenceIsWrittenAsItsText() throws {
        let key = "cust-1|tokens|model=x\"y\\z|2026-10-01T00:00:00Z"
        let pair = event(LineageReferences(source: "lineage/p3", key: key))
        let text = event(LineageReferences(["lineage/p3#" + key]))
        #expect(pair.json() == text.json())
        #expect(pair.lineage == ["lineage/p3#" + key])
        let back = try roundTrip(pair)
        #expect(back.json() == pair.json())
        #expect(back.lineage == pair.lineage)
    }

    @Test func noneAndSeveralReferencesRoundTrip() throws {
        for refs in [LineageReferences.none, LineageReferences(["a#1", "b#2\n"])] {
            let e = event(refs)
            let back = try roundTrip(e)
            #expect(back.json() == e.json())
            #expect(back.lineage == refs.texts)
        }
        #expect(LineageReferences.none.texts.isEmpty)
    }
}
