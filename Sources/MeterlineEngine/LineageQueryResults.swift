// The records and results of lineage queries: what `meterline lineage show` prints.
import Foundation
import MeterlineCore
import MeterlineLineage

/// A billing event as read back from `billing-events.jsonl` (only what lineage needs).
public struct BillingRecord: Sendable {
    public var id: String
    public var kind: String
    public var revision: Int
    public var subject: String
    public var entity: String
    public var meter: String
    /// Dimensions in key order.
    public var dimensions: [(String, String)]
    public var windowStart: String
    public var windowEnd: String
    public var periodStart: String
    public var postedAt: String
    public var postedAtMicros: Int64
    public var quantity: Quantity
    public var amount: Amount
    public var amountDelta: Amount?
    public var currency: String
    public var eventCount: Int
    /// Lineage references, "<source>#<rollup key>".
    public var lineage: [String]
    /// 1-based line number in billing-events.jsonl.
    public var lineNumber: Int
    /// What the event adds to the books: `amountDelta` for revisions, else `amount`.
    public var postedAmount: Amount { amountDelta ?? amount }
}

/// One journal line as read back from `journal-entries.jsonl`, with its entry's header.
public struct JournalLineRecord: Sendable {
    public var journalId: String
    public var entity: String
    public var currency: String
    public var postingDate: String
    public var period: String
    public var lineId: String
    public var account: String
    public var subject: String?
    public var debit: Int128
    public var credit: Int128
    public var memo: String
    public var billingEvents: [String]
    /// 1-based line number (of the entry) in journal-entries.jsonl.
    public var lineNumber: Int
    /// The line's amount in minor units (exactly one of debit/credit is non-zero).
    public var amountMinor: Int128 { debit != 0 ? debit : credit }
    public var side: String { debit != 0 ? "debit" : "credit" }
}

/// Count and Σ value of a set of lineage events.
public struct EventTotals: Sendable, Equatable {
    public var count: Int
    /// Σ value, raw fixed point with 9 fractional digits (Quantity's scale).
    public var valueSum: Int128
    public init(count: Int = 0, valueSum: Int128 = 0) { self.count = count; self.valueSum = valueSum }
    public init(_ events: some Sequence<LineageEvent>) {
        self.init()
        for e in events { count += 1; valueSum &+= e.value }
    }
    public var quantity: Quantity { Quantity(raw: valueSum) }
}

/// How a billing event's quantity is recomputed from its events.
public enum QuantityRule: String, Sendable {
    /// Σ value (SUM; COUNT meters record value 1 per event, so Σ value = count). The default when the meter's
    /// aggregation is unknown.
    case sum
    case max
    case min
    /// No lineage to check (true-ups carry none).
    case noLineage = "no_lineage"
    /// The aggregation (AVG, UNIQUE_COUNT, LATEST) is not recomputed: only the event count is checked.
    case countOnly = "count_only"
}

/// One lineage reference resolved: the rollup key and its events from every file of its source.
public struct LineageWindow: Sendable {
    public var ref: String
    public var source: String
    public var key: String
    /// Paths of the lineage files holding the key, in offset order.
    public var files: [String]
    /// The key's events, ordered by offset.
    public var events: [LineageEvent]
}

/// A billing event with its raw events and the reconciliation of its quantity and event count.
public struct BillingEventLineage: Sendable {
    public var record: BillingRecord
    public var windows: [LineageWindow]
    /// All events of the billing event's rollup keys (all windows), ordered by window then offset.
    public var events: [LineageEvent] { windows.flatMap(\.events) }
    /// Totals over all events in the lineage.
    public var totals: EventTotals
    /// Totals over the events this billing event counted: all of them, or — when the key received later (late)
    /// events that a later revision counted — the first `eventCount` events in offset order.
    public var counted: EventTotals
    /// Events in the lineage after the ones this billing event counted (counted by a later revision).
    public var laterEvents: Int
    public var rule: QuantityRule
    /// The quantity recomputed from the counted events by `rule` (nil for `countOnly`/`noLineage`).
    public var recomputedQuantity: Quantity?
    /// counted.count − eventCount.
    public var countDifference: Int
    /// recomputedQuantity − quantity (raw, 9 fractional digits); 0 when not recomputed.
    public var quantityDifference: Int128
    /// Ids appearing more than once among the events (should be empty: duplicates are dropped before lineage).
    public var duplicateIds: [String]
    public var reconciles: Bool
    /// One line saying what was compared.
    public var note: String
}

/// Cumulative rounding of one (entity, subject, meter, period) as the journal applies it.
public struct RoundingGroup: Sendable {
    public var entity: String
    public var subject: String
    public var meter: String
    public var periodStart: String
    /// Σ posted amounts of every billing event of the group in the output (the period total so far), exact.
    public var periodExact: Amount
    /// That total rounded to minor units: what the group's journal lines sum to over the whole period.
    public var periodMinor: Int128
    /// Billing events of this group on this line.
    public var onLine: Int
    /// Billing events of this group in the same posting interval whose rounded increment was 0, so they are on
    /// no journal line, although their exact amount counts toward later increments.
    public var unlistedZeroIncrement: Int
    public var unlistedAmount: Amount
}

/// A journal line with its billing events (each with its events) and the reconciliation of its amount.
public struct JournalLineLineage: Sendable {
    public var line: JournalLineRecord
    public var billingEvents: [BillingEventLineage]
    /// Σ posted amounts (amountDelta for revisions, else amount) of the line's billing events, exact.
    public var postedSum: Amount
    /// |postedSum| rounded to minor units.
    public var roundedSumMinor: Int128
    /// line amount − roundedSumMinor: non-zero is expected (cumulative rounding), bounded in practice by the
    /// number of rounding groups plus the unlisted zero-increment amounts.
    public var differenceMinor: Int128
    /// The line amount replayed with the journal's rule: Σ |round(cumulative after) − round(cumulative before)|
    /// over the line's billing events, per (entity, subject, meter, period), in posting order.
    public var cumulativeMinor: Int128
    public var groups: [RoundingGroup]
    /// The line amount equals the cumulative replay and every billing event reconciles with its events.
    public var reconciles: Bool
    public var rule: String
}
