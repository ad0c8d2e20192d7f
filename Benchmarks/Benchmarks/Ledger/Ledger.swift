import Benchmark
import MeterlineCore
import MeterlineEngine
import MeterlineLedger

// Journal posting in isolation: one day of billing events of 100k customers (two legal entities, two meters each),
// the shape in which posting was the longest step of a backfill's end (BENCHMARKS.md, 2026-12-07 fourth session).
// Run: `swift package --disable-sandbox benchmark --target Ledger`.

extension BenchmarkMetric {
    static let nsPerBillingEvent = BenchmarkMetric.custom("ns/billing event", polarity: .prefersSmaller, useScalingFactor: false)
}

/// 400k usage billing events: customer `c` of entity `c % 2`, meter `tokens` or `api_calls`, one hourly window each,
/// ids of 32 hex digits as the pipeline derives them, posted across one day.
struct JournalWorkload {
    static let customers = 100_000
    static let events = 400_000
    static let entities = [
        LegalEntity(id: "us-inc", currency: Currency(code: "USD")!, unbilledReceivable: "1210", usageRevenue: "4010"),
        LegalEntity(id: "eu-gmbh", currency: Currency(code: "EUR")!, unbilledReceivable: "1210", usageRevenue: "4020",
                    revenueByMeter: ["api_calls": "4021"]),
    ]
    let billing: [BillingEvent]

    static let shared = JournalWorkload(seed: 7)

    init(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let period = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var out: [BillingEvent] = []
        out.reserveCapacity(Self.events)
        for i in 0..<Self.events {
            let c = Int(g.next() % UInt64(Self.customers))
            let eu = c % 2 == 1
            let window = period + Int64(i % 24) * UTC.microsPerHour
            let id = String(g.next(), radix: 16) + String(g.next(), radix: 16)
            out.append(BillingEvent(
                id: id, kind: .usage, revision: 0, subject: (eu ? "eu-cust-" : "us-cust-") + String(c / 2),
                entity: eu ? "eu-gmbh" : "us-inc", meter: g.next() % 2 == 0 ? "tokens" : "api_calls", dimensions: [],
                windowStart: window, windowEnd: window + UTC.microsPerHour, periodStart: period, periodEnd: period + 31 * UTC.microsPerDay,
                quantity: .zero, periodQuantity: .zero, amount: Amount(raw: Int128(g.next() % 40_000_000_000_000)), amountDelta: nil,
                currency: Currency(code: eu ? "EUR" : "USD")!, priceBookId: "std", priceBookVersion: 1, tiers: [], eventCount: 1,
                lineage: [], postedAt: window + UTC.microsPerHour))
        }
        billing = out
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .nsPerBillingEvent],
                                           maxDuration: .seconds(20), maxIterations: 5)

    // One book posting the whole day (`JournalBook.finish(adding:)`), as a backfill with one legal entity does.
    Benchmark("Journal_post_400k_billing_events_100k_customers") { benchmark in
        let w = JournalWorkload.shared
        for _ in benchmark.scaledIterations {
            var book = JournalBook(entities: JournalWorkload.entities)
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let t0 = clock.now
            let entries = book.finish(adding: w.billing)
            let elapsed = clock.now - t0
            benchmark.stopMeasurement()
            precondition(book.unbalanced.isEmpty && !entries.isEmpty)
            blackHole(entries)
            let ns = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            benchmark.measurement(.nsPerBillingEvent, Int(ns) / JournalWorkload.events)
        }
    }
}
