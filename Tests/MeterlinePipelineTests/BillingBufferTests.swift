import MeterlineCore
@testable import MeterlinePipeline
import Testing

/// `BillingBuffer` keeps events in publication order through growth (`realloc`), hands them over whole by
/// `moveAll(to:)`, and takes new events after a move.
@Suite struct BillingBufferTests {
    func event(_ i: Int) -> BillingEvent {
        BillingEvent(id: "event-\(i)-" + String(repeating: "x", count: i % 40), kind: .usage, revision: 0, subject: "customer-\(i % 97)",
                     entity: "us", meter: "tokens", dimensions: [("model", "m\(i % 5)")], windowStart: Int64(i), windowEnd: Int64(i + 1),
                     periodStart: 0, periodEnd: 100, quantity: Quantity(raw: Int128(i)), periodQuantity: .zero, amount: Amount(raw: Int128(i)),
                     amountDelta: nil, currency: Currency(code: "USD")!, priceBookId: "std", priceBookVersion: 1, tiers: [],
                     eventCount: i, references: LineageReferences(source: "p0", key: "key-\(i)"), postedAt: Int64(i))
    }

    func moved(_ b: BillingBuffer) -> [BillingEvent] {
        Array(unsafeUninitializedCapacity: b.count) { buffer, initialized in
            if b.count > 0 { initialized = b.moveAll(to: buffer.baseAddress!) }
        }
    }

    @Test func keepsOrderThroughGrowthAndMoves() {
        let b = BillingBuffer()
        #expect(b.isEmpty && moved(b).isEmpty)
        for i in 0..<1_000 { b.append(event(i)) }
        #expect(b.count == 1_000 && b.capacity >= 1_000)
        let first = moved(b)
        #expect(b.isEmpty && b.capacity >= 1_000, "a move keeps the capacity")
        #expect(first.map { $0.json() } == (0..<1_000).map { event($0).json() })
        for i in 1_000..<1_010 { b.append(event(i)) }
        #expect(moved(b).map { $0.json() } == (1_000..<1_010).map { event($0).json() })
        b.reserveCapacity(5)  // never shrinks
        #expect(b.capacity >= 1_000)
    }
}
