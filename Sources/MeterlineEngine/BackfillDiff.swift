import Foundation
import MeterlineCore
import MeterlineLedger
import MeterlineLineage
import MeterlinePipeline

/// Compares a re-rated period with what was emitted before (`--previous DIR`: an earlier backfill, whose
/// full period is in DIR/period/, or the streaming engine's output) and produces only the differences.
///
/// Per rollup key (subject, meter, dimensions, window; true-ups per period): unchanged keys emit nothing;
/// changed keys emit a `revision` whose `amountDelta` brings what was posted to the new amount; keys that
/// vanished get a revision to zero; new keys are emitted as they are. All of them are booked at `to`
/// (the end of the backfilled range). Journal adjustments come from a ledger seeded with the previous
/// billing events, so cumulative rounding continues exactly from what was posted.
struct BackfillDiff: Sendable {
    let previousDirectory: String
    let previous: [BillingEvent]
    /// A hasher that has combined the previous billing file's bytes: the namespace of the adjustment entries' ids.
    let previousBillingHash: Hasher128
    /// The previous run's accepted input offsets by source, from its lineage (nil: it has no lineage files).
    let previousAccepted: [String: OffsetSet]?
    let config: Configuration
    let from: Int64
    let to: Int64

    init(previousDirectory: String, config: Configuration, from: Int64, to: Int64) throws {
        self.previousDirectory = previousDirectory
        let periodFile = previousDirectory + "/period/billing-events.jsonl"
        let path = FileManager.default.fileExists(atPath: periodFile) ? periodFile : previousDirectory + "/billing-events.jsonl"
        var hash = Hasher128()
        do { previous = try BillingRecords.read(path, contentHash: &hash) } catch { throw BackfillError("--previous: \(error)") }
        previousBillingHash = hash
        previousAccepted = try BackfillDiff.acceptedPositions(lineage: previousDirectory + "/lineage")
        self.config = config
        self.from = from
        self.to = to
    }

    /// A billing event's window as a dictionary key: the event itself, read in place through a pointer into an array
    /// that outlives the key, and a 128-bit hash of what `sameWindow` compares. Keys are equal when their windows are
    /// (the hash only narrows the search), so even colliding hashes cannot merge two windows. One formatted string
    /// per event, and then a sort of ~300k such strings, was most of a 20M-event comparison's serial time; keys that
    /// held the event's strings cost a retain and a release per comparison (BENCHMARKS.md, 2026-12-07, tenth session).
    struct WindowRef: Hashable {
        let hash: Hash128
        let event: UnsafePointer<BillingEvent>

        /// The key of `ev[i]`.
        init(_ ev: UnsafeBufferPointer<BillingEvent>, _ i: Int) {
            event = UnsafePointer(ev.baseAddress! + i)
            let e = event
            var h = Hasher128()
            h.combine(e.pointee.subject)
            h.combine(e.pointee.meter)
            h.combine(UInt64(e.pointee.dimensions.count))
            for (name, value) in e.pointee.dimensions {
                h.combine(name)
                h.combine(value)
            }
            h.combine(UInt64(bitPattern: e.pointee.windowStart))
            h.combine(e.pointee.kind == .trueUp ? 1 : 0)
            hash = h.finalize()
        }

        static func == (a: WindowRef, b: WindowRef) -> Bool { a.hash == b.hash && BackfillDiff.sameWindow(a.event, b.event) }

        func hash(into h: inout Hasher) { h.combine(hash.low) }
    }

    /// Whether two billing events stand for the same window: subject, meter, dimensions and window start, and both
    /// or neither a true-up (whose window is its period).
    static func sameWindow(_ a: UnsafePointer<BillingEvent>, _ b: UnsafePointer<BillingEvent>) -> Bool {
        a.pointee.windowStart == b.pointee.windowStart && (a.pointee.kind == .trueUp) == (b.pointee.kind == .trueUp)
            && a.pointee.subject == b.pointee.subject && a.pointee.meter == b.pointee.meter
            && a.pointee.dimensions.elementsEqual(b.pointee.dimensions, by: ==)
    }

    /// The key of a customer's totals in the report: legal entity, currency and subject.
    struct CustomerKey: Hashable {
        let entity: String
        let currency: String
        let subject: String
    }

    struct Result {
        var events: [BillingEvent]
        var journal: [JournalEntry]
        var changes: [String: (previous: Amount, new: Amount)]
        var unchanged: Int
        var stateChanges: (new: Int, nowDuplicate: Int, nowRejected: Int)?
    }

    func compare(new: [BillingEvent], newDLQ: [DLQRecord], acceptedPositions: [String: OffsetSet]) throws -> Result {
        // Only previous events inside the backfilled range are compared (a streaming output may hold more); usually
        // all of them are, and the array is shared, not copied (a copy retains every event's strings and arrays).
        func inRange(_ e: BillingEvent) -> Bool { e.windowStart >= from && e.windowStart < to }
        let prevInRange = previous.allSatisfy(inRange) ? previous : previous.filter(inRange)
        // Parts that need none of the rest run on threads of their own meanwhile: the ledger seeded with the previous
        // events, the events' state changes, and the totals per customer (~0.2 s of the serial end with 50,000).
        let config = self.config
        let seeded = BackgroundTask { () -> Backfill.Unshared<JournalBook> in
            var book = JournalBook(configuration: config)
            book.seed(with: prevInRange)
            return Backfill.Unshared(value: book)
        }
        let states = BackgroundTask { try self.stateChanges(acceptedPositions: acceptedPositions, newDLQ: newDLQ) }
        let customers = BackgroundTask { try BackfillDiff.customerChanges(previous: prevInRange, new: new) }
        defer { _ = try? seeded.wait(); _ = try? states.wait(); _ = try? customers.wait() }
        let (out, unchanged) = try prevInRange.withUnsafeBufferPointer { previous in
            try new.withUnsafeBufferPointer { new in try windowChanges(previous: previous, new: new) }
        }

        // Journal: continue the previous cumulative rounding, then post only the differences.
        var book = try seeded.wait().value
        var h = previousBillingHash
        h.combine(UInt64(bitPattern: from)); h.combine(UInt64(bitPattern: to))
        book.idNamespace = "backfill/" + h.finalize().description
        let journal = book.finish(adding: out)
        guard book.unbalanced.isEmpty else { throw BackfillError("adjustment entries do not balance: \(book.unbalanced[0])") }

        let changes = try customers.wait()
        return Result(events: out, journal: journal, changes: changes, unchanged: unchanged, stateChanges: try states.wait())
    }

    /// Per entity, currency and customer ("entity|currency|subject"): the previous and the new posted totals, where
    /// they differ.
    static func customerChanges(previous: [BillingEvent], new: [BillingEvent]) throws -> [String: (previous: Amount, new: Amount)] {
        var totals: [CustomerKey: (previous: Amount, new: Amount)] = [:]
        /// Adds `events`' posted amounts to one side of the totals; fields read in place (`for e in events` copied
        /// every event).
        func add(_ events: [BillingEvent], previousSide: Bool) throws {
            try events.withUnsafeBufferPointer { ev in
                for i in ev.indices {
                    let k = CustomerKey(entity: ev[i].entity, currency: ev[i].currency.code, subject: ev[i].subject)
                    var t = totals[k] ?? (.zero, .zero)
                    let posted = ev[i].amountDelta ?? ev[i].amount
                    if previousSide { t.previous = try t.previous.adding(posted) } else { t.new = try t.new.adding(posted) }
                    totals[k] = t
                }
            }
        }
        try add(previous, previousSide: true)
        try add(new, previousSide: false)
        var changes: [String: (previous: Amount, new: Amount)] = [:]
        for (k, t) in totals where t.previous != t.new { changes["\(k.entity)|\(k.currency)|\(k.subject)"] = t }
        return changes
    }

    /// The billing events to publish for the windows that changed (a revision whose `amountDelta` brings what was
    /// posted to the new amount), vanished (a revision to zero) or are new (the new event), all booked at `to`; and
    /// how many windows are unchanged. A window's previous state is its events' posted sum and its highest revision;
    /// a window that appears more than once in `new` stands as its last event.
    ///
    /// Changed and new windows come in the order the new events first name them, vanished ones in the order the
    /// previous events first name them. Neither the billing file (written in output order) nor the journal (each
    /// customer's events posted in id order) depends on this order; it is fixed anyway. The tables' keys point into
    /// `previous` and `new` and do not outlive this call.
    func windowChanges(previous: UnsafeBufferPointer<BillingEvent>, new: UnsafeBufferPointer<BillingEvent>) throws -> (events: [BillingEvent], unchanged: Int) {
        // Each side's windows in the order first met, with the event that stands for each (events are not copied);
        // a table finds a window's number by its key. Three lookups per window in all.
        var prevWindows: [(last: Int, maxRevision: Int, posted: Amount, matched: Bool)] = []
        var prevNumber: [WindowRef: Int] = [:]
        prevNumber.reserveCapacity(previous.count)
        for i in previous.indices {
            let n = BackfillDiff.number(of: WindowRef(previous, i), in: &prevNumber, next: prevWindows.count)
            if n == prevWindows.count { prevWindows.append((i, -1, .zero, false)) }
            prevWindows[n].posted = try prevWindows[n].posted.adding(previous[i].amountDelta ?? previous[i].amount)
            if previous[i].revision >= prevWindows[n].maxRevision { prevWindows[n].maxRevision = previous[i].revision; prevWindows[n].last = i }
        }
        var newWindows: [(key: WindowRef, last: Int)] = []
        var newNumber: [WindowRef: Int] = [:]
        newNumber.reserveCapacity(new.count)
        for i in new.indices {
            let k = WindowRef(new, i)
            let n = BackfillDiff.number(of: k, in: &newNumber, next: newWindows.count)
            if n == newWindows.count { newWindows.append((k, i)) } else { newWindows[n].last = i }
        }

        var out: [BillingEvent] = []
        var unchanged = 0
        for (k, ni) in newWindows {
            guard let pn = prevNumber[k] else {
                var r = new[ni]
                r.postedAt = to
                out.append(r)
                continue
            }
            prevWindows[pn].matched = true
            let p = prevWindows[pn]
            // Compared in place: most windows are unchanged, and copying the event retains its strings and arrays.
            if new[ni].amount == p.posted && new[ni].quantity == previous[p.last].quantity { unchanged += 1; continue }
            var r = new[ni]
            r.kind = .revision
            r.revision = p.maxRevision + 1
            r.amountDelta = try new[ni].amount.subtracting(p.posted)
            r.reason = nil
            r.postedAt = to
            r.id = BillingEvent.deriveId(subject: r.subject, meter: r.meter, dimensions: r.dimensions, windowStart: r.windowStart,
                                         kind: .revision, priceBookVersion: r.priceBookVersion, revision: r.revision)
            out.append(r)
        }
        for p in prevWindows where !p.matched {
            let i = p.last
            guard p.posted.raw != 0 || previous[i].quantity.raw != 0 else { unchanged += 1; continue }
            var r = previous[i]
            r.kind = .revision
            r.revision = p.maxRevision + 1
            r.quantity = .zero
            r.amount = .zero
            r.amountDelta = Amount(raw: -p.posted.raw)
            r.tiers = []
            r.eventCount = 0
            r.reason = nil
            r.postedAt = to
            r.id = BillingEvent.deriveId(subject: r.subject, meter: r.meter, dimensions: r.dimensions, windowStart: r.windowStart,
                                         kind: .revision, priceBookVersion: r.priceBookVersion, revision: r.revision)
            out.append(r)
        }
        return (out, unchanged)
    }

    /// The number of `key` in `table`, which is given `next` when the key is new: one lookup (the `default:`
    /// subscript's in-place access inserts the default).
    static func number(of key: WindowRef, in table: inout [WindowRef: Int], next: Int) -> Int {
        func read(_ n: inout Int) -> Int { n }
        return read(&table[key, default: next])
    }

    /// Events that changed state, by input position (source, offset), when the previous run read the same sources:
    /// accepted now but not before (new), accepted before but not now — dead-lettered now as rejected (now
    /// rejected), else a duplicate now (now duplicate). `acceptedPositions`: this run's accepted offsets by source.
    /// A DUPLICATE record in the DLQ (`duplicatesToDLQ`) is a duplicate, not a rejection.
    ///
    /// Positions are kept as offset sets per source (`OffsetSet`): as "source@offset" strings in sets they took ~13 s
    /// for a 2M-event backfill (formatting, hashing and splitting every one of them, twice).
    func stateChanges(acceptedPositions: [String: OffsetSet], newDLQ: [DLQRecord]) throws -> (new: Int, nowDuplicate: Int, nowRejected: Int)? {
        guard let previousAccepted else { return nil }
        let previous = previousAccepted.filter { $0.value.count > 0 }
        let accepted = acceptedPositions.filter { $0.value.count > 0 }
        guard !Set(previous.keys).isDisjoint(with: accepted.keys) else { return nil }
        var rejectedBySource: [String: [Int64]] = [:]
        for r in newDLQ where r.reason != .duplicate { rejectedBySource[r.source, default: []].append(r.offset) }
        let empty = OffsetSet([])
        var new = 0, gone = 0, nowRejected = 0
        for source in Set(previous.keys).union(accepted.keys) {
            let now = accepted[source] ?? empty, before = previous[source] ?? empty
            let rejected = OffsetSet(rejectedBySource[source] ?? [])
            new += now.countNotIn(before)
            // Accepted before, not now: rejected now if the DLQ holds its position.
            before.forEachNotIn(now) { o in
                gone += 1
                if rejected.contains(o) { nowRejected += 1 }
            }
        }
        return (new, gone - nowRejected, nowRejected)
    }

    /// The input offsets, by source, of the events in the lineage files of `dir` (nil when there are no lineage files).
    static func acceptedPositions(lineage dir: String) throws -> [String: OffsetSet]? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix(".mlz") }), !files.isEmpty else { return nil }
        var accepted: [String: OffsetSet.Builder] = [:]
        for f in files {
            let file: LineageFile
            do { file = try LineageFile(path: dir + "/" + f) } catch { throw BackfillError("--previous: \(error)") }
            accepted[file.source, default: OffsetSet.Builder()].insert(contentsOf: try file.allOffsets())
        }
        return accepted.mapValues { $0.build() }
    }
}
