import Glibc
import MeterlineCore

/// CloudEvents binary-mode attributes taken from `ce_*` message headers.
public struct BinaryAttributes {
    public var specversion, id, source, type, subject, time: UnsafeRawBufferPointer?
    public init(specversion: UnsafeRawBufferPointer?, id: UnsafeRawBufferPointer?, source: UnsafeRawBufferPointer?,
                type: UnsafeRawBufferPointer?, subject: UnsafeRawBufferPointer?, time: UnsafeRawBufferPointer?) {
        self.specversion = specversion; self.id = id; self.source = source; self.type = type; self.subject = subject; self.time = time
    }
}

/// The metering pipeline: parse → validate → dedup → window → rate, per input partition.
///
/// - Warning: not thread-safe. One pipeline per shard; a shard owns its partitions alone.
/// Invariant: each message passed to `process` ends in exactly one of accepted, duplicate, rejected
/// (`counters.balanced`); outputs depend only on each partition's message sequence.
public final class Pipeline {
    public let config: Configuration
    let catalog: MeterCatalog
    var parser: EventParser
    var contracts: ContractBook
    var states: [PartitionState] = []
    /// State slot by partition. Every change rebuilds `denseSlots`, the table the per-message lookup reads.
    var slots: [Int32: Int] = [:] { didSet { rebuildDenseSlots() } }
    /// `slots` for partitions 0..<`denseSlotLimit` (−1: no state), so a lookup is one array read, not a hashed
    /// dictionary lookup per message when a batch interleaves partitions.
    var denseSlots: [Int32] = []
    static let denseSlotLimit: Int32 = 4096
    var checkpointSequence = 0
    /// What accepting an event needs besides the partition's state.
    let rules: AcceptRules
    /// Parsed events waiting for acceptance in `process(batch:records:nowMicros:)`, and their readings:
    /// `lookahead` rows of `meterCount` (an event has at most one reading per meter).
    let ahead: UnsafeMutablePointer<LookaheadEntry>
    var aheadRejections: [Rejection?] = Array(repeating: nil, count: Pipeline.lookahead)
    let aheadReadings: UnsafeMutableBufferPointer<MeterReading>
    /// The look-ahead entries' parsed events (ParsedEvent holds only plain values: no deinitialization needed).
    let aheadEvents: UnsafeMutablePointer<ParsedEvent>
    /// The look-ahead entries' first window keys (`firstRollupKey`; plain values too).
    let aheadKeys: UnsafeMutablePointer<RollupKey?>
    /// `PrefetchList`'s buffer in `process(batch:)`: `groupAddressCapacity` addresses, allocated once.
    let groupAddresses: UnsafeMutablePointer<UnsafeRawPointer>
    let meterCount: Int
    /// The window start of the last first-reading key (`firstRollupKey`; a cache, not state).
    var firstKeyFloor = WindowFloorMemo()
    /// `config.priceBooks.books[b].prices[p]` as `prices[b][p]`, boxed so that reading one retains one object.
    let prices: [[PriceEntry]]
    /// The period of the last window rated (`period(of:anchorDay:)`; a cache, not state).
    var periodMemo: (anchorDay: Int, start: Int64, end: Int64) = (-1, 0, 0)
    /// `resolvePrice` results by (contract, meter, dimensions, window start).
    var priceMemo: [PriceMemoKey: PriceResolution] = [:]
    /// Prefix of per-partition source names ("usage" → "usage-3").
    public let sourcePrefix: String
    /// Write DUPLICATE records to the DLQ too (they are always counted); from `settings.duplicatesToDLQ`.
    public var duplicatesToDLQ = false
    /// When set, events whose time lies outside are counted in `outOfRange` and not rated (backfill).
    public var acceptRange: Range<Int64>? = nil
    /// Whether a checkpoint hands its billing events over in the partitions' buffers (`CheckpointOutput.billingHandover`)
    /// instead of moving them into `CheckpointOutput.billing`: for a consumer that gathers all checkpoints' events.
    public var handsOverBilling = false
    /// Where a checkpoint takes the empty columns its partitions fill next, when the consumer of
    /// `CheckpointOutput.lineage` gives them back (`LineageColumnsPool`); without one, or while it is empty, a
    /// partition's next columns are new buffers of the old ones' capacity.
    public var lineagePool: LineageColumnsPool? = nil
    /// Source names by partition (e.g. input file names in a backfill); default "<prefix>-<partition>".
    public var sourceNames: [Int32: String] = [:]
    /// About how many ids a partition will remember (a backfill's estimate): its dedup table starts at that size
    /// instead of growing from empty. A hint: capped at `DedupTable.maxExpectedHint`, any error only costs memory or growth.
    public var expectedIds: [Int32: Int] = [:]

    public init(config: Configuration, sourcePrefix: String = "usage") {
        self.config = config
        self.catalog = MeterCatalog(config.meters)
        self.parser = EventParser(catalog: catalog, limits: config.settings.limits)
        self.contracts = ContractBook(config.contracts)
        self.sourcePrefix = sourcePrefix
        self.duplicatesToDLQ = config.settings.duplicatesToDLQ
        self.meterCount = max(1, catalog.meters.count)
        self.aheadReadings = .allocate(capacity: Pipeline.lookahead * max(1, catalog.meters.count))
        precondition(_isPOD(ParsedEvent.self) && _isPOD(MeterReading.self) && _isPOD(RollupKey?.self) && _isPOD(LookaheadEntry.self), "look-ahead buffers hold plain values only")
        self.aheadEvents = .allocate(capacity: Pipeline.lookahead)
        self.aheadKeys = .allocate(capacity: Pipeline.lookahead)
        self.ahead = .allocate(capacity: Pipeline.lookahead)
        self.groupAddresses = .allocate(capacity: Pipeline.groupAddressCapacity)
        ahead.initialize(repeating: LookaheadEntry(), count: Pipeline.lookahead)
        aheadKeys.initialize(repeating: nil, count: Pipeline.lookahead)
        self.rules = AcceptRules(catalog: catalog, contracts: config.contracts, correctionHorizonMicros: config.settings.correctionHorizonMicros)
        self.prices = config.priceBooks.books.map { $0.prices.map(PriceEntry.init) }
    }

    /// The last partition `slot` resolved (consecutive messages mostly share one): skips the dictionary lookup.
    var lastSlot: (partition: Int32, slot: Int)? = nil

    func rebuildDenseSlots() {
        denseSlots.removeAll(keepingCapacity: true)
        for (p, s) in slots where p >= 0 && p < Pipeline.denseSlotLimit {
            if denseSlots.count <= Int(p) { denseSlots.append(contentsOf: repeatElement(-1, count: Int(p) + 1 - denseSlots.count)) }
            denseSlots[Int(p)] = Int32(s)
        }
    }

    @inline(__always)
    func slot(_ partition: Int32) -> Int {
        if partition >= 0 && Int(partition) < denseSlots.count, denseSlots[Int(partition)] >= 0 { return Int(denseSlots[Int(partition)]) }
        if let l = lastSlot, l.partition == partition { return l.slot }
        if let s = slots[partition] { lastSlot = (partition, s); return s }
        let s = states.count
        var st = PartitionState(partition: partition, sourceName: sourceNames[partition] ?? "\(sourcePrefix)-\(partition)", allowedLateness: config.settings.allowedLatenessMicros)
        if let n = expectedIds[partition], n > 0 { st.seen = DedupTable(expectedCount: min(n, DedupTable.maxExpectedHint)) }
        st.trackChanges = includeState
        states.append(st)
        slots[partition] = s
        return s
    }

    deinit {
        aheadReadings.deallocate()
        aheadEvents.deallocate()
        aheadKeys.deallocate()
        ahead.deallocate()
        groupAddresses.deallocate()
    }

    /// The next input offset of a partition (where a restored partition resumes), if it has state.
    public func nextOffset(partition: Int32) -> Int64? { slots[partition].map { states[$0].nextOffset } }

    /// One partition's counters (nil if the pipeline holds no state for it).
    public func counters(partition: Int32) -> Counters? { slots[partition].map { states[$0].counters } }

    /// Remembered ids and the bytes of their dedup tables' slots, over all partitions (the memory per id is
    /// `bytes / ids`; the tables' fixed headers, under 100 bytes each, are not counted).
    public var dedupStats: (ids: Int, bytes: Int) {
        states.reduce((0, 0)) { ($0.0 + $1.seen.count, $0.1 + $1.seen.bytesAllocated) }
    }

    /// Sum of all partitions' counters.
    public var counters: Counters {
        var c = Counters()
        for s in states { c.add(s.counters) }
        return c
    }

    /// Processes one message. `key` is the Kafka key (checked against the subject); `binary` carries
    /// binary-mode attributes when the message has `ce_*` headers; `nowMicros` is processing time.
    public func process(partition: Int32, offset: Int64, value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil,
                        binary: BinaryAttributes? = nil, nowMicros: Int64) {
        let s = begin(partition: partition, offset: offset)
        do throws(Rejection) {
            if let b = binary {
                let e = try parser.parseBinary(specversion: b.specversion, id: b.id, source: b.source, type: b.type,
                                               subject: b.subject, time: b.time, data: value, nowMicros: nowMicros)
                // The event's ranges point into the parser's scratch buffer: read it in place (no copy per event).
                let result: Result<Void, Rejection> = parser.withScratchBytes { buf in
                    do throws(Rejection) { try accept(s, e, buf, key: key, offset: offset); return .success(()) } catch { return .failure(error) }
                }
                try result.get()
            } else {
                let e = try parser.parse(value, nowMicros: nowMicros)
                try accept(s, e, value, key: key, offset: offset)
            }
        } catch {
            reject(s, offset: offset, error, payload: value)
        }
        assert(states[s].counters.balanced)
    }

    /// Counts a message in and records its offset; returns its partition's state slot.
    @inline(__always)
    func begin(partition: Int32, offset: Int64) -> Int {
        let s = slot(partition)
        states[s].begin(offset: offset)
        return s
    }

    func reject(_ s: Int, offset: Int64, _ r: Rejection, payload: UnsafeRawBufferPointer) {
        states[s].counters.rejected[r.reason, default: 0] += 1
        states[s].dlq.append(DLQRecord(source: states[s].sourceName, partition: states[s].partition, offset: offset,
                                       reason: r.reason, message: r.message, payload: Array(payload)))
    }

    /// Accepts the event the parser parsed last, with the parser's readings.
    func accept(_ s: Int, _ e: ParsedEvent, _ base: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, offset: Int64) throws(Rejection) {
        let result: Result<Void, Rejection> = parser.withReadings { readings in
            do throws(Rejection) {
                try accept(s, e, base, key: key, offset: offset, readings: readings)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Accepts a parsed event whose readings are `readings` (the parser's, or kept from an earlier parse); a
    /// buffer pointer, so passing them costs no reference counting per event.
    /// `firstKey` is the window key of the first reading when the caller computed it already (`.some(nil)`: none).
    /// `prefetched`: the caller prefetched the event's dedup slot already (`process(batch:)` does, by groups).
    func accept(_ s: Int, _ e: ParsedEvent, _ base: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, offset: Int64,
                readings: UnsafeBufferPointer<MeterReading>, firstKey: RollupKey?? = nil, prefetched: Bool = false) throws(Rejection) {
        if let k = key, k.count > 0 {
            let n = e.subject.end - e.subject.start
            if e.subject.escaped || k.count != n || memcmp(k.baseAddress!, base.baseAddress! + e.subject.start, n) != 0 {
                states[s].counters.keyMismatch += 1
            }
        }
        if let r = acceptRange, !r.contains(e.timeMicros) {
            states[s].counters.input -= 1
            states[s].counters.outOfRange += 1
            return
        }
        // The dedup slot's cache line is fetched while the window and contract are looked up.
        if !prefetched { states[s].seen.prefetch(e.identity) }
        let contractIndex: Int
        var firstSlot: Int? = nil
        if let key = firstKey ?? firstRollupKey(subject: e.subjectHash, time: e.timeMicros, readings), let slot = states[s].windows.slot(forKey: key) {
            // A window of this subject exists, so its contract is known (contracts are fixed per subject).
            contractIndex = states[s].windows.values[slot].contract
            firstSlot = slot
        } else if let c = contracts.lookup(hash: e.subjectHash, subject: { EventParser.string(base, e.subject) }) {
            contractIndex = c
        } else {
            throw Rejection(.noContract, "no contract for subject \"\(EventParser.string(base, e.subject))\"")
        }
        if let before = try states[s].accept(e, base, offset: offset, contract: contractIndex, readings: readings, firstSlot: firstSlot,
                                             rules: rules, duplicatesToDLQ: duplicatesToDLQ) {
            advance(s, from: before)
        }
    }

    /// Advances an idle partition (no input for `idleTimeout` of processing time) as if an event at `eventTime`
    /// had arrived: its watermark moves to `eventTime − allowedLateness` and what it passes closes. Never moves a
    /// watermark backwards; a partition without state is left alone (nothing to close).
    public func advanceIdle(partition: Int32, to eventTime: Int64) {
        guard let s = slots[partition], states[s].maxEventTime != .min, eventTime > states[s].maxEventTime else { return }
        let before = states[s].watermark
        states[s].maxEventTime = eventTime
        advance(s, from: before)
    }

    /// Partitions that have state, in partition order.
    public var partitions: [Int32] { states.map(\.partition).sorted() }

    /// Closes what the watermark passed: windows in end order, pending revisions at hour boundaries, periods past the horizon.
    func advance(_ s: Int, from before: Int64) {
        let wm = states[s].watermark
        guard wm != .min else { return }
        closeWindows(s, upTo: wm)
        if before == .min || UTC.floor(before, UTC.microsPerHour) != UTC.floor(wm, UTC.microsPerHour) {
            publishRevisions(s)
            closePeriods(s, upTo: wm)
            expireDedup(s, watermark: wm)
        }
    }

    func closeWindows(_ s: Int, upTo wm: Int64) {
        for (_, keys) in states[s].openByEnd.take(upTo: wm) {
            // One billing event per window at least: room for all of them is made once here (geometrically, so
            // many small closes between two checkpoints do not copy the array each time).
            let needed = states[s].billing.count + keys.count
            if needed > states[s].billing.capacity {
                states[s].billing.reserveCapacity(max(needed, 2 * states[s].billing.capacity))
            }
            rate(s, byKeyText(s, keys), late: false)
        }
    }

    func publishRevisions(_ s: Int) {
        guard !states[s].pendingRevisions.isEmpty else { return }
        let keys = Array(states[s].pendingRevisions)
        states[s].pendingRevisions.removeAll()
        rate(s, byKeyText(s, keys), late: true)
    }

    /// Rates windows in the given order. They lie in random slots, so each window's value (its first line and the
    /// line of the strings its billing event copies) is prefetched 8 windows ahead, and the heap objects of its key
    /// text, subject and dimensions (each copy retains them: a miss on each) 4 ahead.
    func rate(_ s: Int, _ ordered: [(key: RollupKey, slot: Int)], late: Bool) {
        let n = ordered.count
        let text = WindowState.keyTextOffset, subject = WindowState.subjectOffset, dims = WindowState.dimensionsOffset
        for i in 0..<n {
            if i + 8 < n {
                states[s].windows.prefetchValue(slot: ordered[i + 8].slot)
                states[s].windows.prefetchValue(slot: ordered[i + 8].slot, bytes: text, count: dims + 8 - text)
            }
            if i + 4 < n {
                let slot = ordered[i + 4].slot
                states[s].windows.prefetchObject(slot: slot, field: text, isString: true)
                states[s].windows.prefetchObject(slot: slot, field: subject, isString: true)
                states[s].windows.prefetchObject(slot: slot, field: dims, isString: false)
            }
            rateWindow(s, ordered[i].key, slot: ordered[i].slot, late: late)
        }
    }

    /// Rates a window (first close, or a revision from late data), advancing its period's position.
    ///
    /// Tiers apply to the period quantity in window order. A window that closes after all rated windows of its
    /// period is rated incrementally: `price(Q_after) − price(Q_before)`. A late change (or a window inserted
    /// before rated ones) re-derives the period in window order and publishes a revision for every window whose
    /// amount changed, so each window's amount depends only on the final window quantities, not on arrival order,
    /// and the period still telescopes to `price(Q_period)`.
    func rateWindow(_ s: Int, _ k: RollupKey, slot: Int, late: Bool) {
        // The window is read and changed in place through its slot: no copy of it on the fast path.
        assert(states[s].windows.slot(forKey: k) == slot, "rateWindow: slot is not the key's")
        if states[s].trackChanges { states[s].changes.windows.insert(k) }
        if late {
            guard let pending = states[s].windows.values[slot].pendingLate else { return }
            do { try states[s].windows.values[slot].aggregate.merge(pending) } catch { /* overflow on merge: keep the previous aggregate */ }
            states[s].windows.values[slot].pendingLate = nil
        }
        let meterIndex = states[s].windows.values[slot].meter
        let contractIndex = states[s].windows.values[slot].contract
        let aggregation = catalog.meters[meterIndex].aggregation
        let anchorDay = contracts.contracts[contractIndex].billingAnchorDay
        let (periodStart, periodEnd) = period(of: k.windowStart, anchorDay: anchorDay)
        let resolved = resolvePrice(contract: contractIndex, meter: meterIndex, dimensionsHash: k.dimensions,
                                    dimensions: states[s].windows.values[slot].dimensions, windowStart: k.windowStart)
        // Indexes into the price catalog, not copies of the book and price (each copy retains their arrays).
        let book = resolved.book
        let priceIndex = resolved.priceIndex
        let scope = ScopeKey(subject: k.subject, meter: k.meter, discriminator: resolved.discriminator, periodStart: periodStart)
        // The period's state is read and changed in place by its slot too.
        let pslot = states[s].periods.slot(forKey: scope) ?? states[s].periods.insert(scope, PeriodState(
            periodEnd: periodEnd, contract: contractIndex, subject: states[s].windows.values[slot].subject, meter: meterIndex,
            dimensions: aggregation.isAdditive && priceIndex != nil ? [] : states[s].windows.values[slot].dimensions))
        if states[s].trackChanges { states[s].changes.periods.insert(scope) }
        if let pi = priceIndex, let b = book {
            states[s].periods.values[pslot].priceBookId = config.priceBooks.books[b].id
            states[s].periods.values[pslot].priceBookVersion = config.priceBooks.books[b].version
            states[s].periods.values[pslot].priceIndex = pi
        }
        let order = { (a: RollupKey, aText: String, b: RollupKey, bText: String) -> Bool in
            a.windowStart != b.windowStart ? a.windowStart < b.windowStart : KeyText.less(aText, bText)
        }
        let lastMember = states[s].periods.values[pslot].members.last
        // Usually the last member is an earlier window: its key text (a lookup and a cold line) is read only on a tie.
        let isLast = lastMember.map { m in
            m.windowStart != k.windowStart ? m.windowStart < k.windowStart : order(m, keyText(s, m), k, states[s].windows.values[slot].keyText)
        } ?? true
        // A window closes (non-late) once: closeWindows takes it from `openByEnd`, where only unrated windows are.
        let firstClose = !late
        assert(!firstClose || !states[s].periods.values[pslot].members.contains(k), "window rated twice")
        if firstClose && isLast {
            // Fast path: the newest window of the period.
            let q = (try? states[s].windows.values[slot].aggregate.quantity(aggregation)) ?? .zero
            let before = states[s].periods.values[pslot].quantity
            var after = before ?? .zero
            do {
                if aggregation.isAdditive { after = try (before ?? .zero).adding(q) } else {
                    let windowAggregate = states[s].windows.values[slot].aggregate
                    try states[s].periods.values[pslot].aggregate.merge(windowAggregate)
                    after = try states[s].periods.values[pslot].aggregate.quantity(aggregation)
                }
            } catch {}
            let (amount, tiers) = increment(book: book, price: priceIndex, before: before, after: after)
            states[s].periods.values[pslot].members.append(k)
            states[s].periods.values[pslot].quantity = after
            let posted = states[s].periods.values[pslot].posted
            states[s].periods.values[pslot].posted = (try? posted.adding(amount)) ?? posted
            states[s].windows.values[slot].revision = 0
            publish(s, k, slot: slot, kind: .usage, amount: amount, delta: nil, periodQuantity: after, tiers: tiers, book: book,
                    postedAt: k.windowStart)
            return
        }
        let meter = catalog.meters[meterIndex]
        let contract = contracts.contracts[contractIndex]
        let w = states[s].windows.values[slot]
        var p = states[s].periods.values[pslot]
        // Slow path: place the window, then re-derive the period in window order.
        if !p.members.contains(k) {
            let i = p.members.firstIndex { !order($0, keyText(s, $0), k, w.keyText) } ?? p.members.count
            p.members.insert(k, at: i)
        }
        var running: Quantity? = nil
        var runningAggregate = Aggregate()
        var posted = Amount.zero
        for m in p.members {
            let sm = states[s].windows.slot(forKey: m)!
            var wm = states[s].windows.values[sm]
            let mm = catalog.meters[wm.meter]
            let qm = (try? wm.aggregate.quantity(mm.aggregation)) ?? wm.quantity
            let before = running
            var after = before ?? .zero
            do {
                if mm.aggregation.isAdditive { after = try (before ?? .zero).adding(qm) } else {
                    try runningAggregate.merge(wm.aggregate)
                    after = try runningAggregate.quantity(mm.aggregation)
                }
            } catch {}
            let bm = config.priceBooks.bookIndex(id: contract.priceBook, at: m.windowStart)
            let pm = bm.flatMap { config.priceBooks.books[$0].price(meter: mm.slug, dimensions: wm.dimensions)?.index }
            let (amount, tiers) = increment(book: bm, price: pm, before: before, after: after)
            running = after
            posted = (try? posted.adding(amount)) ?? posted
            let unpublished = wm.revision == -1 || (m == k && firstClose)
            if unpublished {
                states[s].windows.values[sm].revision = 0
                publish(s, m, slot: sm, kind: .usage, amount: amount, delta: nil, periodQuantity: after, tiers: tiers, book: bm,
                        postedAt: m == k && !late && firstClose ? m.windowStart : states[s].watermark)
            } else if amount != wm.amount || qm != wm.quantity {
                wm.revision += 1
                states[s].windows.values[sm].revision = wm.revision
                let delta = (try? amount.subtracting(wm.amount)) ?? .zero
                publish(s, m, slot: sm, kind: .revision, amount: amount, delta: delta, periodQuantity: after, tiers: tiers, book: bm,
                        postedAt: states[s].watermark)
                states[s].counters.revisions += 1
            }
        }
        p.quantity = running
        if !meter.aggregation.isAdditive { p.aggregate = runningAggregate }
        p.posted = posted
        states[s].periods.values[pslot] = p
    }

    /// Appends a billing event for the window in `slot` (key `k`) and records in it what was published.
    func publish(_ s: Int, _ k: RollupKey, slot: Int, kind: BillingKind, amount: Amount, delta: Amount?,
                 periodQuantity: Quantity, tiers: [TierLine], book bookIndex: Int?, postedAt: Int64) {
        let meterIndex = states[s].windows.values[slot].meter, contractIndex = states[s].windows.values[slot].contract
        let aggregation = catalog.meters[meterIndex].aggregation
        let anchorDay = contracts.contracts[contractIndex].billingAnchorDay
        let entity = contracts.contracts[contractIndex].entity
        let slug = catalog.meters[meterIndex].slug
        let (periodStart, periodEnd) = period(of: k.windowStart, anchorDay: anchorDay)
        let q = (try? states[s].windows.values[slot].aggregate.quantity(aggregation)) ?? states[s].windows.values[slot].quantity
        let currency = bookIndex.map { config.priceBooks.books[$0].currency } ?? config.entity(entity)?.currency ?? Currency(code: "USD")!
        let version = bookIndex.map { config.priceBooks.books[$0].version }
        let subject = states[s].windows.values[slot].subject
        let dimensions = states[s].windows.values[slot].dimensions
        let revision = states[s].windows.values[slot].revision
        let event = BillingEvent(
            id: BillingEvent.deriveId(subject: subject, meter: slug, dimensions: dimensions, windowStart: k.windowStart,
                                      kind: kind, priceBookVersion: version, revision: revision),
            kind: kind, revision: revision, subject: subject, entity: entity, meter: slug, dimensions: dimensions,
            windowStart: k.windowStart, windowEnd: states[s].windows.values[slot].windowEnd, periodStart: periodStart,
            periodEnd: periodEnd,
            quantity: q, periodQuantity: periodQuantity, amount: amount, amountDelta: delta, currency: currency,
            priceBookId: bookIndex.map { config.priceBooks.books[$0].id }, priceBookVersion: version, tiers: tiers, eventCount: states[s].windows.values[slot].aggregate.count,
            references: LineageReferences(source: states[s].sourceName, key: states[s].windows.values[slot].keyText), postedAt: postedAt)
        states[s].billing.append(event)
        if states[s].trackChanges { states[s].changes.windows.insert(k) }
        states[s].windows.values[slot].closed = true
        states[s].windows.values[slot].quantity = q
        states[s].windows.values[slot].amount = amount
    }

    /// Closes periods whose correction horizon the watermark passed (or, with `force`, those ending by `upTo`):
    /// emits true-ups for minimums and base fees, then forgets their windows.
    func closePeriods(_ s: Int, upTo wm: Int64, force: Bool = false) {
        let horizon = config.settings.correctionHorizonMicros
        // The closing periods as small rows (key, slot and the fields they are ordered by), sorted, and each period
        // read in place through its slot: filtering and sorting copies of the periods (each retaining its subject,
        // dimensions and member list) was most of closing a backfill's periods with many customers.
        struct Closing { var key: ScopeKey; var slot: Int; var periodEnd: Int64; var subject: String }
        var closing: [Closing] = []
        for slot in 0..<states[s].periods.count {
            let end = states[s].periods.values[slot].periodEnd
            guard force ? end <= wm : end + horizon <= wm else { continue }
            closing.append(Closing(key: states[s].periods.keys[slot], slot: slot, periodEnd: end, subject: states[s].periods.values[slot].subject))
        }
        guard !closing.isEmpty else { return }
        // (period end, subject, meter, discriminator) order.
        closing.sort { a, b in
            if a.periodEnd != b.periodEnd { return a.periodEnd < b.periodEnd }
            if a.subject != b.subject { return a.subject < b.subject }
            return (a.key.meter, a.key.discriminator) < (b.key.meter, b.key.discriminator)
        }
        for c in closing {
            let slot = c.slot
            if states[s].trackChanges { states[s].changes.periods.insert(c.key) }
            guard let pid = states[s].periods.values[slot].priceBookId, let idx = states[s].periods.values[slot].priceIndex,
                  let version = states[s].periods.values[slot].priceBookVersion,
                  let book = config.priceBooks.books.first(where: { $0.id == pid && $0.version == version }) else { continue }
            let price = book.prices[idx]
            let quantity = states[s].periods.values[slot].quantity
            guard let charge = try? price.price(quantity ?? .zero, rounding: config.settings.rounding),
                  let trueUp = try? charge.amount.subtracting(states[s].periods.values[slot].posted), trueUp.raw != 0 else { continue }
            let meter = catalog.meters[states[s].periods.values[slot].meter]
            let contract = contracts.contracts[states[s].periods.values[slot].contract]
            let reason = (price.minimum.map { $0 > charge.usageAmount } ?? false) ? "minimum" : "base_fee"
            let dimensions = states[s].periods.values[slot].dimensions
            states[s].billing.append(BillingEvent(
                id: BillingEvent.deriveId(subject: c.subject, meter: meter.slug, dimensions: dimensions, windowStart: c.key.periodStart,
                                          kind: .trueUp, priceBookVersion: version, revision: 0),
                kind: .trueUp, revision: 0, subject: c.subject, entity: contract.entity, meter: meter.slug, dimensions: dimensions,
                windowStart: c.key.periodStart, windowEnd: c.periodEnd, periodStart: c.key.periodStart, periodEnd: c.periodEnd,
                quantity: .zero, periodQuantity: quantity ?? .zero, amount: trueUp, amountDelta: nil, currency: book.currency,
                priceBookId: pid, priceBookVersion: version, tiers: [], eventCount: 0, references: .none, reason: reason,
                postedAt: force ? c.periodEnd - 1 : wm))
        }
        // Removed after they are read (removal moves another period into the freed slot), in the same order as ever.
        for c in closing { states[s].periods[c.key] = nil }
        // Forget windows of closed periods (late data for them is now LATE_PERIOD_CLOSED).
        let closedEnds = Set(closing.map(\.periodEnd))
        if !closedEnds.isEmpty {
            let contracts = self.contracts.contracts
            // Removal moves windows between slots: registered lineage keys are read first.
            states[s].resolveLineageKeys()
            var removed: [RollupKey] = []
            let track = states[s].trackChanges
            states[s].windows.removeAll { key, window in
                let c = contracts[window.contract]
                let pe = UTC.periodEnd(start: UTC.periodStart(key.windowStart, anchorDay: c.billingAnchorDay), anchorDay: c.billingAnchorDay)
                let gone = window.closed && (force ? pe <= wm : pe + horizon <= wm)
                if gone && track { removed.append(key) }
                return gone
            }
            if track { states[s].changes.windows.formUnion(removed) }
        }
    }

    func expireDedup(_ s: Int, watermark wm: Int64) {
        let oldest = Int32(truncatingIfNeeded: UTC.floor(wm - config.settings.dedupHorizonMicros, UTC.microsPerDay) / UTC.microsPerDay)
        let baseDay = states[s].seen.baseDay
        states[s].seen.expire(before: oldest)
        // An expiry with a cut above the base day forgets exactly the ids whose event day is below it (DedupTable.restore).
        if states[s].trackChanges && oldest > baseDay { states[s].dropIds(before: oldest) }
    }

    /// End of input: closes every open window and publishes pending revisions; with `closePeriodsEndingBy`,
    /// also closes periods that end by then (true-ups), as a backfill of whole periods does.
    public func finish(closePeriodsEndingBy: Int64? = nil) {
        for s in states.indices {
            closeWindows(s, upTo: .max)
            publishRevisions(s)
            if let t = closePeriodsEndingBy { closePeriods(s, upTo: t, force: true) }
        }
    }

    /// Whether `checkpoint()` includes each changed partition's changelog records (`changelog`) for the `state`
    /// topic. Set it before the first event: partitions record their changes from creation (or restore) on.
    public var includeState = false
    /// About the largest changelog record (bytes): under a Kafka message's default 1 MB with room for the key.
    public var changelogRecordBytes = 800_000
    /// The window records since the last base are replaced by a new base once their bytes exceed the base's and this.
    public var changelogRebaseMinBytes = 1 << 20

    /// Takes everything produced since the last checkpoint. Partitions are visited in partition order.
    public func checkpoint() -> CheckpointOutput {
        checkpointSequence += 1
        var low = Int64.max
        for st in states where st.maxEventTime != .min { low = min(low, st.watermark) }
        var out = CheckpointOutput(sequence: checkpointSequence, lowWatermark: low == .max ? .min : low)
        let ordered = states.indices.sorted(by: { states[$0].partition < states[$1].partition })
        // Billing events are moved out of the partitions' buffers into one array, in partition order: no copy
        // (a copy retained every string and array of every event, and emptying the buffers released them again).
        // With `handsOverBilling` the buffers themselves are handed over and the partitions get new ones.
        let billingCounts = ordered.map { states[$0].billing.count }
        let billingTotal = billingCounts.reduce(0, +)
        if billingTotal > 0 && handsOverBilling {
            out.billingHandover = BillingHandover(ordered.compactMap { s in
                guard !states[s].billing.isEmpty else { return nil }
                defer { states[s].billing = BillingBuffer() }
                return states[s].billing
            })
        } else if billingTotal > 0 {
            out.billing = Array(unsafeUninitializedCapacity: billingTotal) { buffer, initialized in
                for s in ordered { initialized += states[s].billing.moveAll(to: buffer.baseAddress! + initialized) }
            }
        }
        for (i, s) in ordered.enumerated() {
            out.runs.append((states[s].partition, billingCounts[i], states[s].dlq.count))
            if out.dlq.isEmpty { swap(&out.dlq, &states[s].dlq) } else { out.dlq.append(contentsOf: states[s].dlq) }
            states[s].resolveLineageKeys()
            if !states[s].lineage.isEmpty {
                out.lineage.append((states[s].sourceName, states[s].lineage.rows.first!.offset, states[s].lineage.rows.last!.offset, states[s].lineage))
            }
            if states[s].firstOffset >= 0 { out.offsets.append((states[s].partition, states[s].nextOffset)) }
            states[s].dlq.removeAll(keepingCapacity: true)
            if let recycled = lineagePool?.take() { states[s].lineage = recycled } else { states[s].lineage.removeAll() }
            states[s].lineageGeneration &+= 1
        }
        if includeState {
            for s in states.indices.sorted(by: { states[$0].partition < states[$1].partition }) {
                let records = changelog(s)
                if !records.isEmpty { out.state.append((states[s].partition, records)) }
            }
        }
        return out
    }

}
