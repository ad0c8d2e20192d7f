import MeterlineCore

// Owns: the part of a billing event that `Pipeline.publish` derives from a window's rating: the per-tier
// difference of two price breakdowns.

extension Pipeline {
    /// Per-tier difference between two breakdowns (what this window added to each tier).
    static func tierDelta(after: [TierLine], before: [TierLine]) -> [TierLine] {
        // A period's first window (nothing before it): the delta is `after` itself, shared rather than rebuilt
        // (one allocation less per such billing event). The loop below would give the same lines.
        if before.isEmpty && zip(after, after.dropFirst()).allSatisfy({ $0.tier < $1.tier }) { return after }
        var out: [TierLine] = []
        out.reserveCapacity(after.count + before.count)
        for a in after {
            if let b = before.first(where: { $0.tier == a.tier }) {
                guard let dq = try? a.quantity.subtracting(b.quantity), let da = try? a.amount.subtracting(b.amount) else { continue }
                if dq.raw == 0 && da.raw == 0 { continue }
                out.append(TierLine(tier: a.tier, quantity: dq, unitAmount: a.unitAmount, flatAmount: .zero, amount: da))
            } else {
                out.append(a)
            }
        }
        for b in before where !after.contains(where: { $0.tier == b.tier }) {
            out.append(TierLine(tier: b.tier, quantity: Quantity(raw: -b.quantity.raw), unitAmount: b.unitAmount,
                                flatAmount: Amount(raw: -b.flatAmount.raw), amount: Amount(raw: -b.amount.raw)))
        }
        // Usually in tier order already (graduated tiers only grow): sort only when a before-only tier was appended.
        if zip(out, out.dropFirst()).allSatisfy({ $0.tier < $1.tier }) { return out }
        return out.sorted { $0.tier < $1.tier }
    }
}
