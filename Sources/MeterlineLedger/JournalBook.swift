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
        writeJSON(to: &w)
        return w.text
    }

    /// Writes `json()` to `w` (as one top-level value): for writing many entries through one reused writer.
    /// Encoders of entries held in a buffer use `writeJSON(_:to:)`, which does not copy the entry.
    public func writeJSON(to w: inout JSONWriter) {
        var entry = self
        entry.writeInPlace(to: &w)
    }

    /// `writeJSON(to:)` of the entry at `entry`, read where it lies (as `BillingEvent.writeJSON(_:to:)`: called on
    /// `buffer[i]`, `writeJSON(to:)` would get a copy, retaining each string and array of the entry and its lines).
    /// `entry` is only read.
    public static func writeJSON(_ entry: UnsafePointer<JournalEntry>, to w: inout JSONWriter) {
        UnsafeMutablePointer(mutating: entry).pointee.writeInPlace(to: &w)
    }

    /// The body of `writeJSON`: `mutating` only so that it is called on an `inout` access; it writes nothing.
    mutating func writeInPlace(to w: inout JSONWriter) {
        w.beginObject()
        w.field("journalId", journalId)
        w.field("entity", entity)
        w.field("currency", currency.code)
        w.field("postingDate", String(RFC3339.format(micros: postingDate).prefix(10)))
        w.field("period", period)
        w.field("part", part)
        w.key("lines")
        w.beginArray()
        // Each line in place, as the entry (`for l in lines` copied each line).
        lines.withUnsafeBufferPointer { all in
            for i in all.indices { UnsafeMutablePointer(mutating: all.baseAddress! + i).pointee.writeInPlace(to: &w) }
        }
        w.endArray()
        w.endObject()
    }
}

extension JournalLine {
    /// One line of `JournalEntry.writeJSON`, as an array element. `mutating` only so that it is called on an
    /// `inout` access (no copy of the line); it writes nothing.
    mutating func writeInPlace(to w: inout JSONWriter) {
        w.element()
        w.beginObject()
        w.field("lineId", lineId)
        w.field("account", account)
        if let s = subject { w.field("subject", s) }
        w.field("debit", integer: debit)
        w.field("credit", integer: credit)
        w.field("memo", memo)
        w.key("billingEvents")
        w.beginArray()
        for b in billingEvents { w.element(); w.string(b) }
        w.endArray()
        w.endObject()
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
    struct CumulativeKey: WordHashable {
        var entity: String; var subject: String; var meter: String; var periodStart: Int64
        var word: UInt64 {
            var h = Hasher128()
            h.combine(entity); h.combine(subject); h.combine(meter); h.combine(UInt64(bitPattern: periodStart))
            return h.finalize().low
        }
    }
    /// Cumulative positions: `positionValues[n]` is the position of `positions.keys[n]`. Keys are found by a hash of
    /// their strings computed once per billing event (see `WordIndex`).
    var positions = WordIndex<CumulativeKey>()
    var positionValues: [(exact: Amount, posted: Int128)] = []
    var pending: [Int64: [BillingEvent]] = [:]
    public private(set) var unbalanced: [UnbalancedEntry] = []
    public internal(set) var postedThrough: Int64 = .min

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
        return events.withUnsafeBufferPointer { finish(adding: $0, members: Array($0.indices)) }
    }

    /// `finish(adding:)` for the events `ev[i]` with `i` in `members` (ascending) only, read in place, for a book with
    /// nothing buffered: a caller may post each legal entity's events with a book of its own (entities share no
    /// position, line or entry) and merge the entries in `emissionOrder`.
    public mutating func finish(adding ev: UnsafeBufferPointer<BillingEvent>, members: [Int]) -> [JournalEntry] {
        precondition(pending.isEmpty, "finish(adding:members:) needs a book with nothing buffered")
        var byInterval: [Int64: [Int]] = [:]
        for i in members { byInterval[UTC.floor(ev[i].postedAt, interval), default: []].append(i) }
        var out: [JournalEntry] = []
        for start in byInterval.keys.sorted() {
            out.append(contentsOf: postInterval(start, ev, byInterval[start]!))
            postedThrough = max(postedThrough, start + interval)
        }
        return out
    }

    /// Whether `a` comes before `b` in the order a book emits entries: by posting date, then "entity|currency" (as
    /// text), then part. Entries of books that share no legal entity, merged in this order, are one book's entries.
    public static func emissionOrder(_ a: JournalEntry, _ b: JournalEntry) -> Bool {
        if a.postingDate != b.postingDate { return a.postingDate < b.postingDate }
        if a.entity != b.entity || a.currency != b.currency { return "\(a.entity)|\(a.currency.code)" < "\(b.entity)|\(b.currency.code)" }
        return a.part < b.part
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
    ///
    /// Each member's events are posted in id order (so the cumulative rounding sequence is the same in every run),
    /// which is a random walk through the events' memory. So the events are first read once in memory order: each is
    /// resolved to its (entity, subject, meter, period) member and what posting needs of it is copied into a small
    /// row; the rows are posted member after member, each member's in id order, without touching the events again.
    /// Reading the events in id order was a cache miss on each of them, most of posting a period with many customers.
    mutating func postInterval(_ start: Int64, _ ev: UnsafeBufferPointer<BillingEvent>, _ members: [Int]) -> [JournalEntry] {
        /// `lines[n]` is the line of `lineIndex.keys[n]`.
        struct Group { var lineIndex = WordIndex<LineKey>(); var lines: [Line] = []; var periods: Set<Int64> = [] }
        /// An (entity, subject, meter, period) met in this interval: its cumulative position (read from `cumulative`
        /// when first met, written back at the end), its group, and its lines (Dr, Cr when it posts a positive amount,
        /// then when negative; −1 until needed). Found by one hash lookup per event.
        struct Member { var position: (exact: Amount, posted: Int128); var group: Int32; var lines: (Int32, Int32, Int32, Int32) = (-1, -1, -1, -1)
                        /// The position's number in `positions` (−1: new in this interval) and the key's word.
                        var known: Int32; var word: UInt64 }
        /// What posting one event needs: its id (and the id's first 8 bytes, the sort key), member, amount and currency digits.
        struct Row { var prefix: UInt64; var member: Int32; var digits: Int32; var amount: Amount; var id: String }
        var groupIndex: [String: Int] = [:] // "entity|currency"
        var groups: [Group] = []
        var memberIndex = WordIndex<CumulativeKey>(capacity: members.count)
        var memberList: [Member] = []
        var lastGroup: (entity: String, currency: String, group: Int)? = nil
        var lastEntity: LegalEntity? = nil
        var rows: [Row] = []
        rows.reserveCapacity(members.count)
        for i in members {
            // Consecutive events mostly share their entity: its lookup (and copy) once per run of them.
            if lastEntity?.id != ev[i].entity { lastEntity = entities[ev[i].entity] }
            guard let entity = lastEntity, entity.id == ev[i].entity else { continue }
            let ck = CumulativeKey(entity: ev[i].entity, subject: ev[i].subject, meter: ev[i].meter, periodStart: ev[i].periodStart)
            let word = ck.word
            let (m, isNew) = memberIndex.findOrInsert(ck, word: word)
            if isNew {
                // The group of the previous new member is reused when entity and currency repeat (the common case).
                let g: Int
                if let last = lastGroup, last.entity == ev[i].entity, last.currency == ev[i].currency.code { g = last.group } else {
                    let gk = "\(ev[i].entity)|\(ev[i].currency.code)"
                    if let known = groupIndex[gk] { g = known } else { g = groups.count; groups.append(Group()); groupIndex[gk] = g }
                    lastGroup = (ev[i].entity, ev[i].currency.code, g)
                }
                groups[g].periods.insert(ev[i].periodStart)
                assert(m == memberList.count)
                let known = positions.number(of: ck, word: word)
                memberList.append(Member(position: known.map { positionValues[$0] } ?? (Amount.zero, 0), group: Int32(g),
                                         known: Int32(known ?? -1), word: word))
            }
            rows.append(Row(prefix: BillingEvent.idPrefix(of: ev[i].id), member: Int32(m),
                            digits: Int32(ev[i].currency.minorUnitDigits), amount: ev[i].postedAmount, id: ev[i].id))
        }
        // Rounding is cumulative per member, so the events are posted member after member, each member's in id order:
        // the same amounts as posting all of them in id order. Members are numbered in memory order, so their state is
        // then read in order too (in id order, each event's member and lines were cache misses). A line collects the
        // events of several members (a customer's meters share the receivable line): its list is put in id order last.
        var runStart = [Int](repeating: 0, count: memberList.count + 1)
        for k in rows.indices { runStart[Int(rows[k].member) + 1] += 1 }
        for m in memberList.indices { runStart[m + 1] += runStart[m] }
        var byMember = [Int32](repeating: 0, count: rows.count)
        var fill = runStart
        for k in rows.indices {
            let m = Int(rows[k].member)
            byMember[fill[m]] = Int32(k)
            fill[m] += 1
        }
        for m in memberList.indices where runStart[m + 1] - runStart[m] > 1 {
            byMember[runStart[m]..<runStart[m + 1]].sort { a, b in
                rows[Int(a)].prefix != rows[Int(b)].prefix ? rows[Int(a)].prefix < rows[Int(b)].prefix : rows[Int(a)].id < rows[Int(b)].id
            }
        }
        // A member posts to two lines (three when its amount changes sign), some shared with the subject's other
        // members: room for two per member, so the line indexes do not rehash as they fill.
        var membersOfGroup = [Int](repeating: 0, count: groups.count)
        for member in memberList { membersOfGroup[Int(member.group)] += 1 }
        for g in groups.indices { groups[g].lineIndex.reserveCapacity(2 * membersOfGroup[g]) }
        /// The line of `key` in group `g`, created (with its memo) when new.
        func line(_ g: Int, _ key: LineKey, _ entity: LegalEntity) -> Int32 {
            let (l, isNew) = groups[g].lineIndex.findOrInsert(key, word: key.word)
            if isNew {
                let memo = key.account == entity.unbilledReceivable ? "Unbilled usage receivable" : "Usage revenue"
                groups[g].lines.append(Line(key: key, memo: memo))
            }
            assert(groups[g].lines.count == groups[g].lineIndex.count)
            return Int32(l)
        }
        // Rows are read in place (`for r in rows` copied each, retaining its id).
        rows.withUnsafeBufferPointer { rows in for k in byMember.lazy.map({ Int($0) }) {
            let m = Int(rows[k].member)
            // `now` is what this event posts: the rounded cumulative total's change.
            let now = JournalBook.advance(&memberList[m].position, by: rows[k].amount, digits: Int(rows[k].digits), rounding: rounding)
            guard now != 0 else { continue }
            let g = Int(memberList[m].group)
            // Positive: Dr unbilled receivable / Cr revenue. Negative: the reverse.
            let positive = now > 0
            if (positive ? memberList[m].lines.0 : memberList[m].lines.2) < 0 {
                let key = memberIndex.keys[m]
                let entity = entities[key.entity]!
                let subject: String? = detail == .customer ? key.subject : nil
                let revenue = entity.revenueAccount(meter: key.meter)
                let dr = line(g, LineKey(account: positive ? entity.unbilledReceivable : revenue, subject: subject, debitSide: true), entity)
                let cr = line(g, LineKey(account: positive ? revenue : entity.unbilledReceivable, subject: subject, debitSide: false), entity)
                if positive { memberList[m].lines.0 = dr; memberList[m].lines.1 = cr } else { memberList[m].lines.2 = dr; memberList[m].lines.3 = cr }
            }
            let (dr, cr) = positive ? (memberList[m].lines.0, memberList[m].lines.1) : (memberList[m].lines.2, memberList[m].lines.3)
            // In place in the group's array, recording the event once per line.
            func post(_ l: Int32) {
                let l = Int(l)
                groups[g].lines[l].amount += Int128(now.magnitude)
                if groups[g].lines[l].events.last != rows[k].id { groups[g].lines[l].events.append(rows[k].id) }
            }
            post(dr)
            post(cr)
        } }
        for g in groups.indices {
            for l in groups[g].lines.indices where groups[g].lines[l].events.count > 1 {
                groups[g].lines[l].events.sort(by: BillingEvent.idPrecedes)
            }
        }
        positions.reserveCapacity(positions.count + memberList.count)
        positionValues.reserveCapacity(positions.count + memberList.count)
        for m in memberList.indices {
            if memberList[m].known >= 0 { positionValues[Int(memberList[m].known)] = memberList[m].position } else {
                let (n, _) = positions.findOrInsert(memberIndex.keys[m], word: memberList[m].word)
                assert(n == positionValues.count)
                positionValues.append(memberList[m].position)
            }
        }
        var out: [JournalEntry] = []
        for (gk, gi) in groupIndex.sorted(by: { $0.key < $1.key }) {
            let g = groups[gi]
            let parts = gk.split(separator: "|", maxSplits: 1).map(String.init)
            let entityId = parts[0]
            let currency = Currency(code: parts[1])!
            var h = Hasher128()
            h.combine("journal/v1"); if !idNamespace.isEmpty { h.combine(idNamespace) }; h.combine(entityId); h.combine(currency.code); h.combine(UInt64(bitPattern: start))
            let baseId = h.finalize().description.prefix(20)
            // Lines by subject: each subject's lines balance on their own, so parts are cut between subjects only.
            let order = JournalBook.lineOrder(g.lines)
            var chunks: [ArraySlice<Int>] = []
            var runStart = 0
            while runStart < order.count {
                var runEnd = runStart + 1
                while runEnd < order.count && g.lines[order[runEnd]].key.subject == g.lines[order[runStart]].key.subject { runEnd += 1 }
                if let last = chunks.last, last.count + (runEnd - runStart) <= maxLines {
                    chunks[chunks.count - 1] = order[last.startIndex..<runEnd]
                } else {
                    chunks.append(order[runStart..<runEnd])
                }
                runStart = runEnd
            }
            let periods = g.periods.sorted().map { String(RFC3339.format(micros: $0).prefix(7)) }
            for (pi, partLines) in chunks.enumerated() {
                let journalId = "JE-\(baseId)-\(pi + 1)"
                var lines: [JournalLine] = []
                lines.reserveCapacity(partLines.count)
                for li in partLines {
                    let v = g.lines[li]
                    let k = v.key
                    var lh = Hasher128()
                    lh.combine(journalId); lh.combine(k.account); lh.combine(k.subject ?? ""); lh.combine(k.debitSide ? "D" : "C")
                    let memo = k.subject.map { JournalBook.spaced(v.memo, $0) } ?? v.memo
                    lines.append(JournalLine(lineId: lh.finalize().hexPrefix(20, after: "JL-"), account: k.account, subject: k.subject,
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

    /// `"\(a) \(b)"` in one allocation (a line's memo, made once per line; interpolation grew its buffer twice).
    static func spaced(_ a: String, _ b: String) -> String {
        let joined = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                String(unsafeUninitializedCapacity: x.count + 1 + y.count) { out in
                    let p = UnsafeMutableRawPointer(out.baseAddress!)
                    if x.count > 0 { p.copyMemory(from: x.baseAddress!, byteCount: x.count) }
                    p.storeBytes(of: UInt8(ascii: " "), toByteOffset: x.count, as: UInt8.self)
                    if y.count > 0 { (p + x.count + 1).copyMemory(from: y.baseAddress!, byteCount: y.count) }
                    return x.count + 1 + y.count
                }
            }
        }
        return (joined ?? nil) ?? "\(a) \(b)"
    }

    /// A journal line being built: its account, customer (nil in summary detail) and side.
    struct LineKey: Hashable, WordHashable {
        var account: String; var subject: String?; var debitSide: Bool
        var word: UInt64 {
            var h = Hasher128()
            h.combine(account); h.combine(subject ?? ""); h.combine(subject == nil ? 0 : 1); h.combine(debitSide ? 1 : 0)
            return h.finalize().low
        }
    }

    struct Line { var key: LineKey; var amount: Int128 = 0; var events: [String] = []; var memo: String }

    /// The indexes of the lines with a non-zero amount in entry order: by subject, debit side first, then account,
    /// each in `String` order (no subject first).
    ///
    /// `String` order is byte order for ASCII text, so when every subject and account is ASCII the lines are sorted
    /// as rows of integers: each string's first 16 bytes as two big-endian words, the words after them read
    /// only when those tie. Sorting the lines by a tuple of their strings copied and compared strings at every step:
    /// with 100k customers that was a third of posting a period. Other text is sorted the general way.
    static func lineOrder(_ lines: [Line]) -> [Int] {
        struct Row { var s0: UInt64; var s1: UInt64; var sStart: Int32; var sCount: Int32
                     var a0: UInt64; var a1: UInt64; var aStart: Int32; var aCount: Int32; var side: UInt8; var index: Int32 }
        var bytes: [UInt8] = []
        var rows: [Row] = []
        rows.reserveCapacity(lines.count)
        var ascii = lines.count < Int(Int32.max)
        for (i, l) in lines.enumerated() where l.amount != 0 && ascii {
            let sStart = bytes.count
            if let subject = l.key.subject { bytes.append(contentsOf: subject.utf8) }
            let aStart = bytes.count
            bytes.append(contentsOf: l.key.account.utf8)
            ascii = bytes[sStart...].allSatisfy { $0 < 0x80 } && bytes.count < Int(Int32.max)
            rows.append(Row(s0: 0, s1: 0, sStart: Int32(sStart), sCount: Int32(aStart - sStart), a0: 0, a1: 0, aStart: Int32(aStart),
                            aCount: Int32(bytes.count - aStart), side: l.key.debitSide ? 0 : 1, index: Int32(i)))
        }
        guard ascii else {
            return lines.indices.filter { lines[$0].amount != 0 }.sorted { a, b in
                (lines[a].key.subject ?? "", lines[a].key.debitSide ? 0 : 1, lines[a].key.account)
                    < (lines[b].key.subject ?? "", lines[b].key.debitSide ? 0 : 1, lines[b].key.account)
            }
        }
        bytes.append(contentsOf: repeatElement(0, count: 16)) // so every word load stays in the buffer
        return bytes.withUnsafeBytes { b -> [Int] in
            /// Bytes `o ..< o + 8` of a string as a big-endian word, zero past its end.
            @inline(__always) func word(_ start: Int32, _ count: Int32, _ o: Int) -> UInt64 {
                guard Int(count) > o else { return 0 }
                let w = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: Int(start) + o, as: UInt64.self))
                let valid = min(8, Int(count) - o)
                return valid == 8 ? w : w & ~(UInt64.max >> UInt64(valid * 8))
            }
            /// Orders two strings by their bytes, given their first two words (equal words: the next words, then the
            /// lengths; a word holds zeros past its string's end, so a string sorts before its extensions). Nil: equal.
            @inline(__always) func less(_ x0: UInt64, _ x1: UInt64, _ xs: Int32, _ xn: Int32,
                                        _ y0: UInt64, _ y1: UInt64, _ ys: Int32, _ yn: Int32) -> Bool? {
                if x0 != y0 { return x0 < y0 }
                if x1 != y1 { return x1 < y1 }
                var o = 16
                while o < Int(min(xn, yn)) {
                    let x = word(xs, xn, o), y = word(ys, yn, o)
                    if x != y { return x < y }
                    o += 8
                }
                return xn == yn ? nil : xn < yn
            }
            for k in rows.indices {
                rows[k].s0 = word(rows[k].sStart, rows[k].sCount, 0); rows[k].s1 = word(rows[k].sStart, rows[k].sCount, 8)
                rows[k].a0 = word(rows[k].aStart, rows[k].aCount, 0); rows[k].a1 = word(rows[k].aStart, rows[k].aCount, 8)
            }
            rows.sort { x, y in
                if let r = less(x.s0, x.s1, x.sStart, x.sCount, y.s0, y.s1, y.sStart, y.sCount) { return r }
                if x.side != y.side { return x.side < y.side }
                return less(x.a0, x.a1, x.aStart, x.aCount, y.a0, y.a1, y.aStart, y.aCount) ?? false
            }
            return rows.map { Int($0.index) }
        }
    }
}

/// A key whose fields hash to one 64-bit word with `Hasher128` (a multiply per 8 bytes), for `WordIndex`.
protocol WordHashable: Equatable {
    var word: UInt64 { get }
}

/// Dense numbers (0, 1, 2, … in order of insertion) for keys, found by their `word`: open addressing with linear
/// probing over a power-of-two table of (word, number) slots; keys are compared only where the words are equal, so
/// lookups are exact. For the journal's lookups per billing event: a `Dictionary` of keys with a precomputed word
/// still seeded and finalized SipHash over the word at every lookup (~a fifth of posting a period of many customers).
///
/// Invariants: `keys[n]` is the key numbered n and no two keys are equal; `slots.count` is a power of two at least
/// twice `keys.count` (so a probe always reaches an empty slot); a slot's `number` is −1 when empty.
struct WordIndex<Key: WordHashable> {
    private struct Slot { var word: UInt64; var number: Int32 }
    private(set) var keys: [Key] = []
    private var slots: [Slot]

    init(capacity: Int = 4) {
        var n = 8
        while n < 2 * capacity { n *= 2 }
        slots = [Slot](repeating: Slot(word: 0, number: -1), count: n)
        keys.reserveCapacity(capacity)
    }

    var count: Int { keys.count }

    mutating func reserveCapacity(_ capacity: Int) {
        keys.reserveCapacity(capacity)
        if 2 * capacity > slots.count { rehash(atLeast: 2 * capacity) }
    }

    /// The number of `key`, whose `word` is `word`; nil when it was never inserted.
    func number(of key: Key, word: UInt64) -> Int? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: word) & mask
        while true {
            let slot = slots[i]
            if slot.number < 0 { return nil }
            if slot.word == word && keys[Int(slot.number)] == key { return Int(slot.number) }
            i = (i + 1) & mask
        }
    }

    /// The number of `key` (whose `word` is `word`), inserting it with the next number when absent.
    mutating func findOrInsert(_ key: Key, word: UInt64) -> (number: Int, inserted: Bool) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: word) & mask
        while true {
            let slot = slots[i]
            if slot.number < 0 { break }
            if slot.word == word && keys[Int(slot.number)] == key { return (Int(slot.number), false) }
            i = (i + 1) & mask
        }
        precondition(keys.count < Int(Int32.max), "too many keys")
        let n = keys.count
        keys.append(key)
        slots[i] = Slot(word: word, number: Int32(n))
        if 2 * keys.count > slots.count { rehash(atLeast: 2 * keys.count) }
        return (n, true)
    }

    private mutating func rehash(atLeast minimum: Int) {
        var n = slots.count
        while n < minimum { n *= 2 }
        let old = slots
        slots = [Slot](repeating: Slot(word: 0, number: -1), count: n)
        let mask = n - 1
        for slot in old where slot.number >= 0 {
            var i = Int(truncatingIfNeeded: slot.word) & mask
            while slots[i].number >= 0 { i = (i + 1) & mask }
            slots[i] = slot
        }
    }
}
