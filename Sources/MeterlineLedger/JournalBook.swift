// MeterlineLedger — balanced, compact ERP journal entries from rated billing events, and ERP exports.
//
// Owns: posting intervals, cumulative rounding to minor units, debit/credit sides, derived journal
// and line ids, the journal-entry JSON form.
//
// Must never import: MeterlineKafka, MeterlineLineage, MeterlineEngine, C modules.
import MeterlineCore

/// One journal line. Amounts are integer minor units; exactly one of debit/credit is non-zero.
public struct JournalLine: Sendable, Equatable {
    public var lineId: String
    public var account: String
    public var subject: String?
    public var debit: Int128
    public var credit: Int128
    public var memo: String
    public var billingEvents: [String]
}

/// A balanced journal entry for one (legal entity, currency, posting interval).
/// Invariant: Σ debit == Σ credit over `lines` (checked before it is emitted); ids are derived.
public struct JournalEntry: Sendable, Equatable {
    public var journalId: String
    public var entity: String
    public var currency: Currency
    public var postingDate: Int64
    /// The billing periods (start) the lines belong to, e.g. "2026-10".
    public var period: String
    /// 1-based part number: an interval with more lines than `maxLines` is split into balanced parts.
    public var part: Int
    public var lines: [JournalLine]

    public var totalDebit: Int128 { lines.reduce(0) { $0 + $1.debit } }
    public var totalCredit: Int128 { lines.reduce(0) { $0 + $1.credit } }
    public var isBalanced: Bool { totalDebit == totalCredit }

    public func json() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("journalId", journalId)
        w.field("entity", entity)
        w.field("currency", currency.code)
        w.field("postingDate", String(RFC3339.format(micros: postingDate).prefix(10)))
        w.field("period", period)
        w.field("part", part)
        w.key("lines")
        w.beginArray()
        for l in lines {
            w.element()
            w.beginObject()
            w.field("lineId", l.lineId)
            w.field("account", l.account)
            if let s = l.subject { w.field("subject", s) }
            w.key("debit"); w.raw(String(l.debit))
            w.key("credit"); w.raw(String(l.credit))
            w.field("memo", l.memo)
            w.key("billingEvents")
            w.beginArray()
            for b in l.billingEvents { w.element(); w.string(b) }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}

/// An entry that could not be emitted because it did not balance (a bug, counted and reported).
public struct UnbalancedEntry: Error, Sendable, CustomStringConvertible {
    public var journalId: String
    public var debit: Int128
    public var credit: Int128
    public var description: String { "journal entry \(journalId) does not balance: debit \(debit) ≠ credit \(credit)" }
}

/// Turns billing events into journal entries.
///
/// Billing events are buffered by posting interval (of `postedAt`); an interval is posted once the low
/// watermark passes its end (or at `finish`), so the content of an entry does not depend on timing.
/// Amounts are rounded cumulatively per (entity, subject, meter, period): `posted_now = round(cumulative)
/// − posted_before`, so a period's lines sum exactly to its rounded total.
/// Invariant: every emitted entry balances; an unbalanced one is counted in `unbalanced` and not emitted.
public struct JournalBook {
    public let entities: [String: LegalEntity]
    public let detail: JournalDetail
    public let rounding: RoundingMode
    public let interval: Int64
    /// Most lines in one entry (ERPs cap documents: SAP at 999 items); each customer's lines stay together.
    public var maxLines = 200
    /// Mixed into journal ids when set, so adjustment entries of a backfill never collide with the ids of
    /// entries posted earlier for the same (entity, currency, interval).
    public var idNamespace = ""
    struct CumulativeKey: Hashable { var entity: String; var subject: String; var meter: String; var periodStart: Int64 }
    var cumulative: [CumulativeKey: (exact: Amount, posted: Int128)] = [:]
    var pending: [Int64: [BillingEvent]] = [:]
    public private(set) var unbalanced: [UnbalancedEntry] = []
    public private(set) var postedThrough: Int64 = .min

    public init(entities: [LegalEntity], detail: JournalDetail = .customer, rounding: RoundingMode = .halfAwayFromZero,
                interval: Int64 = UTC.microsPerDay) {
        precondition(interval > 0 && UTC.microsPerDay % interval == 0, "posting interval must divide a day")
        self.entities = Dictionary(uniqueKeysWithValues: entities.map { ($0.id, $0) })
        self.detail = detail
        self.rounding = rounding
        self.interval = interval
    }

    public init(configuration c: Configuration) {
        self.init(entities: c.entities, detail: c.settings.journalDetail, rounding: c.settings.rounding, interval: c.settings.postingIntervalMicros)
    }

    /// One cumulative-rounding position: exact amount so far and minor units posted so far.
    public struct Position: Sendable, Equatable {
        public var entity: String, subject: String, meter: String, periodStart: Int64
        public var exact: Amount
        public var posted: Int128
        public init(entity: String, subject: String, meter: String, periodStart: Int64, exact: Amount, posted: Int128) {
            self.entity = entity; self.subject = subject; self.meter = meter; self.periodStart = periodStart; self.exact = exact; self.posted = posted
        }
    }

    /// The book's state for a checkpoint: positions (canonical order), billing events not yet posted, and
    /// how far it has posted. `restore` with it continues exactly where this book is.
    public func state() -> (positions: [Position], pending: [BillingEvent], postedThrough: Int64) {
        let positions = cumulative.map { Position(entity: $0.key.entity, subject: $0.key.subject, meter: $0.key.meter, periodStart: $0.key.periodStart, exact: $0.value.exact, posted: $0.value.posted) }
            .sorted { ($0.entity, $0.subject, $0.meter, $0.periodStart) < ($1.entity, $1.subject, $1.meter, $1.periodStart) }
        let pending = self.pending.keys.sorted().flatMap { self.pending[$0]! }
        return (positions, pending, postedThrough)
    }

    /// Replaces the book's state with one taken by `state()`.
    public mutating func restore(positions: [Position], pending: [BillingEvent], postedThrough: Int64) {
        cumulative = Dictionary(uniqueKeysWithValues: positions.map {
            (CumulativeKey(entity: $0.entity, subject: $0.subject, meter: $0.meter, periodStart: $0.periodStart), ($0.exact, $0.posted))
        })
        self.pending = [:]
        add(pending)
        self.postedThrough = postedThrough
    }

    /// Buffers billing events for posting.
    public mutating func add(_ events: [BillingEvent]) {
        for e in events { pending[UTC.floor(e.postedAt, interval), default: []].append(e) }
    }

    /// Posts every interval that ends at or before `watermark`, oldest first.
    public mutating func post(through watermark: Int64) -> [JournalEntry] {
        let due = pending.keys.filter { $0 + interval <= watermark }.sorted()
        var out: [JournalEntry] = []
        for start in due {
            out.append(contentsOf: postInterval(start, pending.removeValue(forKey: start)!))
            postedThrough = max(postedThrough, start + interval)
        }
        return out
    }

    /// Posts everything still buffered.
    public mutating func finish() -> [JournalEntry] { post(through: .max) }

    /// Posts `events` and everything still buffered: the same entries as `add(events)` then `finish()`, but the
    /// events are read in place instead of being copied into the buffer (a copy retains each event's strings and
    /// arrays; the backfill posts a whole period's events at once).
    public mutating func finish(adding events: [BillingEvent]) -> [JournalEntry] {
        guard pending.isEmpty else {
            add(events)
            return finish()
        }
        var byInterval: [Int64: [Int]] = [:]
        for i in events.indices { byInterval[UTC.floor(events[i].postedAt, interval), default: []].append(i) }
        var out: [JournalEntry] = []
        events.withUnsafeBufferPointer { ev in
            for start in byInterval.keys.sorted() {
                out.append(contentsOf: postInterval(start, ev, byInterval[start]!))
                postedThrough = max(postedThrough, start + interval)
            }
        }
        return out
    }

    /// Cumulative rounding: adds `amount` to the exact total and returns `round(total) − posted before` (minor units),
    /// recording the new rounded total as posted.
    static func advance(_ c: inout (exact: Amount, posted: Int128), by amount: Amount, digits: Int, rounding: RoundingMode) -> Int128 {
        c.exact = (try? c.exact.adding(amount)) ?? c.exact
        let target = (try? c.exact.minorUnits(digits: digits, mode: rounding)) ?? c.posted
        defer { c.posted = target }
        return target - c.posted
    }

    mutating func postInterval(_ start: Int64, _ events: [BillingEvent]) -> [JournalEntry] {
        events.withUnsafeBufferPointer { postInterval(start, $0, Array($0.indices)) }
    }

    /// Posts the interval starting at `start` whose events are `ev[m]` for `m` in `members`. Fields are read in
    /// place through the buffer: copying an event retains its dozen strings and arrays.
    mutating func postInterval(_ start: Int64, _ ev: UnsafeBufferPointer<BillingEvent>, _ members: [Int]) -> [JournalEntry] {
        // Canonical order: by id, so the cumulative rounding sequence is the same in every run. Small (prefix, index)
        // rows are sorted, not the events (moving ~400-byte structs and comparing heap strings at every step).
        var order = members.map { (prefix: BillingEvent.idPrefix(of: ev[$0].id), index: $0) }
        order.sort { a, b in a.prefix != b.prefix ? a.prefix < b.prefix : ev[a.index].id < ev[b.index].id }
        struct LineKey: Hashable { var account: String; var subject: String?; var debitSide: Bool }
        struct Line { var key: LineKey; var amount: Int128 = 0; var events: [String] = []; var memo: String }
        struct Group { var lineIndex: [LineKey: Int] = [:]; var lines: [Line] = []; var periods: Set<Int64> = [] }
        /// An (entity, subject, meter, period) met in this interval: its cumulative position (read from `cumulative`
        /// when first met, written back at the end), its group, and its lines (Dr, Cr when it posts a positive amount,
        /// then when negative; −1 until needed). One hash lookup per event finds all of it: looking up the
        /// position, the group and two lines by their string keys was most of the cost of posting a period.
        struct Member { var key: CumulativeKey; var position: (exact: Amount, posted: Int128); var group: Int; var lines = (-1, -1, -1, -1) }
        var groupIndex: [String: Int] = [:] // "entity|currency"
        var groups: [Group] = []
        var memberIndex: [CumulativeKey: Int] = [:]
        var memberList: [Member] = []
        var lastGroup: (entity: String, currency: String, group: Int)? = nil
        var lastEntity: LegalEntity? = nil
        /// The line of `key` in group `g`, created (with its memo) when new.
        func line(_ g: Int, _ key: LineKey, _ entity: LegalEntity) -> Int {
            if let l = groups[g].lineIndex[key] { return l }
            let memo = key.account == entity.unbilledReceivable ? "Unbilled usage receivable" : "Usage revenue"
            groups[g].lines.append(Line(key: key, memo: memo))
            groups[g].lineIndex[key] = groups[g].lines.count - 1
            return groups[g].lines.count - 1
        }
        for (_, i) in order {
            // Consecutive events mostly share their entity: its lookup (and copy) once per run of them.
            if lastEntity?.id != ev[i].entity { lastEntity = entities[ev[i].entity] }
            guard let entity = lastEntity, entity.id == ev[i].entity else { continue }
            let ck = CumulativeKey(entity: ev[i].entity, subject: ev[i].subject, meter: ev[i].meter, periodStart: ev[i].periodStart)
            let m: Int
            if let known = memberIndex[ck] { m = known } else {
                // The group of the previous new member is reused when entity and currency repeat (the common case).
                let g: Int
                if let last = lastGroup, last.entity == ev[i].entity, last.currency == ev[i].currency.code { g = last.group } else {
                    let gk = "\(ev[i].entity)|\(ev[i].currency.code)"
                    if let known = groupIndex[gk] { g = known } else { g = groups.count; groups.append(Group()); groupIndex[gk] = g }
                    lastGroup = (ev[i].entity, ev[i].currency.code, g)
                }
                groups[g].periods.insert(ev[i].periodStart)
                m = memberList.count
                memberList.append(Member(key: ck, position: cumulative[ck] ?? (Amount.zero, 0), group: g))
                memberIndex[ck] = m
            }
            // `now` is what this event posts: the rounded cumulative total's change.
            let now = JournalBook.advance(&memberList[m].position, by: ev[i].postedAmount, digits: ev[i].currency.minorUnitDigits, rounding: rounding)
            guard now != 0 else { continue }
            let g = memberList[m].group
            // Positive: Dr unbilled receivable / Cr revenue. Negative: the reverse.
            let positive = now > 0
            if (positive ? memberList[m].lines.0 : memberList[m].lines.2) < 0 {
                let subject: String? = detail == .customer ? ev[i].subject : nil
                let revenue = entity.revenueAccount(meter: ev[i].meter)
                let dr = line(g, LineKey(account: positive ? entity.unbilledReceivable : revenue, subject: subject, debitSide: true), entity)
                let cr = line(g, LineKey(account: positive ? revenue : entity.unbilledReceivable, subject: subject, debitSide: false), entity)
                if positive { memberList[m].lines.0 = dr; memberList[m].lines.1 = cr } else { memberList[m].lines.2 = dr; memberList[m].lines.3 = cr }
            }
            let (dr, cr) = positive ? (memberList[m].lines.0, memberList[m].lines.1) : (memberList[m].lines.2, memberList[m].lines.3)
            // In place in the group's array, recording the event once per line.
            func post(_ l: Int) {
                groups[g].lines[l].amount += Int128(now.magnitude)
                if groups[g].lines[l].events.last != ev[i].id { groups[g].lines[l].events.append(ev[i].id) }
            }
            post(dr)
            post(cr)
        }
        for member in memberList { cumulative[member.key] = member.position }
        var out: [JournalEntry] = []
        for (gk, gi) in groupIndex.sorted(by: { $0.key < $1.key }) {
            let g = groups[gi]
            let parts = gk.split(separator: "|", maxSplits: 1).map(String.init)
            let entityId = parts[0]
            let currency = Currency(code: parts[1])!
            var h = Hasher128()
            h.combine("journal/v1"); if !idNamespace.isEmpty { h.combine(idNamespace) }; h.combine(entityId); h.combine(currency.code); h.combine(UInt64(bitPattern: start))
            let baseId = h.finalize().description.prefix(20)
            // Lines grouped by subject: each subject's lines balance on their own, so parts can be cut between subjects.
            var groupsBySubject: [[Line]] = []
            for v in g.lines.sorted(by: { ($0.key.subject ?? "", $0.key.debitSide ? 0 : 1, $0.key.account) < ($1.key.subject ?? "", $1.key.debitSide ? 0 : 1, $1.key.account) }) {
                guard v.amount != 0 else { continue }
                if let last = groupsBySubject.last?.last, last.key.subject == v.key.subject { groupsBySubject[groupsBySubject.count - 1].append(v) } else { groupsBySubject.append([v]) }
            }
            var chunks: [[Line]] = []
            for grp in groupsBySubject {
                if let last = chunks.last, last.count + grp.count <= maxLines { chunks[chunks.count - 1].append(contentsOf: grp) } else { chunks.append(grp) }
            }
            let periods = g.periods.sorted().map { String(RFC3339.format(micros: $0).prefix(7)) }
            for (pi, partLines) in chunks.enumerated() {
                let journalId = "JE-\(baseId)-\(pi + 1)"
                var lines: [JournalLine] = []
                for v in partLines {
                    let k = v.key
                    var lh = Hasher128()
                    lh.combine(journalId); lh.combine(k.account); lh.combine(k.subject ?? ""); lh.combine(k.debitSide ? "D" : "C")
                    let memo = k.subject.map { "\(v.memo) \($0)" } ?? v.memo
                    lines.append(JournalLine(lineId: "JL-" + lh.finalize().description.prefix(20), account: k.account, subject: k.subject,
                                             debit: k.debitSide ? v.amount : 0, credit: k.debitSide ? 0 : v.amount, memo: memo,
                                             billingEvents: v.events))
                }
                let entry = JournalEntry(journalId: journalId, entity: entityId, currency: currency, postingDate: start,
                                         period: Array(Set(periods)).sorted().joined(separator: ","), part: pi + 1, lines: lines)
                if entry.isBalanced { out.append(entry) } else {
                    unbalanced.append(UnbalancedEntry(journalId: journalId, debit: entry.totalDebit, credit: entry.totalCredit))
                }
            }
        }
        return out
    }
}
