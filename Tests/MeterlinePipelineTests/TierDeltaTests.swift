import MeterlineCore
@testable import MeterlinePipeline
import Testing

/// `Pipeline.tierDelta`: what a window added to each tier of its period's breakdown.
@Suite struct TierDeltaTests {
    func line(_ tier: Int, _ q: Int, _ a: Int) -> TierLine {
        TierLine(tier: tier, quantity: Quantity(raw: Int128(q)), unitAmount: Amount(raw: 7), flatAmount: .zero, amount: Amount(raw: Int128(a)))
    }

    @Test func nothingBeforeGivesTheBreakdownItself() {
        let after = [line(1, 10, 70), line(2, 5, 20)]
        #expect(Pipeline.tierDelta(after: after, before: []) == after)
        #expect(Pipeline.tierDelta(after: [], before: []).isEmpty)
    }

    @Test func sharedTiersSubtractAndBeforeOnlyTiersTurnNegative() {
        let before = [line(1, 10, 70), line(3, 2, 9)]
        let after = [line(1, 10, 70), line(2, 4, 16)]
        // Tier 1 unchanged (dropped), tier 2 new (as is), tier 3 only before (negated); in tier order.
        #expect(Pipeline.tierDelta(after: after, before: before) == [
            line(2, 4, 16),
            TierLine(tier: 3, quantity: Quantity(raw: -2), unitAmount: Amount(raw: 7), flatAmount: .zero, amount: Amount(raw: -9)),
        ])
        #expect(Pipeline.tierDelta(after: [line(1, 15, 105)], before: [line(1, 10, 70)]) == [line(1, 5, 35)])
    }
}
