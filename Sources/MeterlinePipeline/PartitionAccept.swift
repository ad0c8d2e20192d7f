import MeterlineCore

// Owns: the per-event accept path of one partition (dedup, period check, window aggregate, lineage columns).
// It runs as a mutating method on the partition's own state, so every access is a direct in-place access:
// no copy of the partition or window state per event (reading a dictionary value through a getter copies it).

/// What accepting an event needs besides the partition's state; immutable for a pipeline's life (a class: passed per event
/// as one reference, not as a struct of arrays retained field by field).
/// Invariant: `meterWindowMicros` and `meterAggregation` have one entry per catalog meter; `contractAnchorDay` one per contract.
final class AcceptRules: Sendable {
    let catalog: MeterCatalog
    let meterWindowMicros: [Int64]
    let meterAggregation: [Aggregation]
    let contractAnchorDay: [Int]
    let correctionHorizonMicros: Int64

    init(catalog: MeterCatalog, contracts: [Contract], correctionHorizonMicros: Int64) {
        self.catalog = catalog
        meterWindowMicros = catalog.meters.map { $0.windowSize.micros }
        meterAggregation = catalog.meters.map(\.aggregation)
        contractAnchorDay = contracts.map(\.billingAnchorDay)
        self.correctionHorizonMicros = correctionHorizonMicros
    }
}

extension PartitionState {
    /// Counts a message in and records its offset (one in-place access to the partition, not one per field).
    @inline(__always)
    mutating func begin(offset: Int64) {
        counters.input += 1
        if firstOffset < 0 { firstOffset = offset }
        lastOffset = offset
        nextOffset = offset + 1
    }

    /// Accepts a parsed, contracted event, or counts it as a duplicate. Returns the watermark before the event
    /// when the event moved it (the caller then closes what the new watermark passed), else nil.
    ///
    /// The readings are added before the event is marked seen and counted accepted, so an event rejected
    /// here (a value that overflows its window) is not remembered: a corrected resend is accepted.
    /// `firstSlot` is the slot of the first reading's window when the caller has looked it up already.
    mutating func accept(_ e: ParsedEvent, _ base: UnsafeRawBufferPointer, offset: Int64, contract: Int,
                         readings: UnsafeBufferPointer<MeterReading>, firstSlot: Int? = nil, rules: AcceptRules,
                         duplicatesToDLQ: Bool) throws(Rejection) -> Int64? {
        let probe = seen.probe(e.identity)
        if probe.found {
            counters.duplicate += 1
            if duplicatesToDLQ {
                dlq.append(DLQRecord(source: sourceName, partition: partition, offset: offset,
                                     reason: .duplicate, message: "(source, id) already accepted", payload: Array(base)))
            }
            return nil
        }
        let anchorDay = rules.contractAnchorDay[contract]
        let t = e.timeMicros
        // Billing periods of one anchor day tile time: the last one found usually holds the next event too.
        if anchorDay != periodCache.anchorDay || t < periodCache.start || t >= periodCache.end {
            let start = UTC.periodStart(t, anchorDay: anchorDay)
            periodCache = (anchorDay, start, UTC.periodEnd(start: start, anchorDay: anchorDay))
        }
        let periodStart = periodCache.start, periodEnd = periodCache.end
        let wm = watermark
        if wm != .min && wm >= periodEnd + rules.correctionHorizonMicros {
            counters.latePeriodClosed[periodStart, default: 0] += 1
            throw Rejection(.latePeriodClosed, "period starting \(RFC3339.format(micros: periodStart)) is closed for corrections (watermark \(RFC3339.format(micros: wm)))")
        }
        for (n, r) in readings.enumerated() {
            let windowMicros = rules.meterWindowMicros[r.meterIndex]
            let ws = windowFloor.floor(t, windowMicros)
            let rk = RollupKey(subject: e.subjectHash, meter: Int32(r.meterIndex), dimensions: r.dimensionsHash, windowStart: ws)
            // At most one hashed lookup per reading: insert if new, then work on the window in place by its slot.
            let known = n == 0 ? firstSlot : nil
            assert(known == nil || windows.slot(forKey: rk) == known, "firstSlot is not the first reading's window")
            let i = known ?? windows.slot(forKey: rk) ?? openWindow(rk, e, base, contract: contract, meter: r.meterIndex,
                                                            windowEnd: ws + windowMicros, watermark: wm, rules: rules)
            let late: Bool
            do throws(DecimalError) {
                late = try windows.values[i].add(r, time: t, identity: e.identity, kind: rules.meterAggregation[r.meterIndex])
            } catch {
                throw Rejection(.badValue, "meter '\(rules.catalog.meters[r.meterIndex].slug)': \(error.message)")
            }
            if late { pendingRevisions.insert(rk) }
            let key = windows.values[i].lineageKey(slot: i, generation: lineageGeneration, lineage: &lineage)
            PartitionState.withUnescaped(base, e.id) { id in
                PartitionState.withUnescaped(base, e.source) { source in
                    lineage.append(key: key, id: id, source: source, timeMicros: t, value: r.value.raw, offset: offset)
                }
            }
        }
        // Accepted: the id is seen from now on, in the checkpoint that accounts for the event.
        let day = Int32(truncatingIfNeeded: UTC.floor(t, UTC.microsPerDay) / UTC.microsPerDay)
        // The probe above still holds: nothing between it and here touches `seen`.
        seen.insert(e.identity, day: day, at: probe)
        if trackChanges { changes.newIds.append(LoggedId(identity: e.identity, day: day)) }
        counters.accepted += 1
        guard t > maxEventTime else { return nil }
        let before = watermark
        maxEventTime = t
        return before
    }

    /// Creates the window of a new rollup key (slow path: once per key) and returns its slot.
    mutating func openWindow(_ rk: RollupKey, _ e: ParsedEvent, _ base: UnsafeRawBufferPointer, contract: Int, meter m: Int,
                             windowEnd: Int64, watermark wm: Int64, rules: AcceptRules) -> Int {
        let subject = EventParser.string(base, e.subject)
        let dims = EventParser.dimensions(base, data: e.data, meter: rules.catalog.meters[m])
        // "<subject>|<meter>|<name>=<value>,…|<window start>", built in the partition's reused scratch buffer and
        // copied once into the String (an array per window was a second allocation and a second copy).
        keyScratch.removeAll()
        keyScratch.append(text: subject)
        keyScratch.append(UInt8(ascii: "|"))
        keyScratch.append(text: rules.catalog.meters[m].slug)
        keyScratch.append(UInt8(ascii: "|"))
        for (i, (name, value)) in dims.enumerated() {
            if i > 0 { keyScratch.append(UInt8(ascii: ",")) }
            keyScratch.append(text: name)
            keyScratch.append(UInt8(ascii: "="))
            keyScratch.append(text: value)
        }
        keyScratch.append(UInt8(ascii: "|"))
        if windowStartText.micros != rk.windowStart {
            var text: [UInt8] = []
            RFC3339.append(micros: rk.windowStart, to: &text)
            windowStartText = (rk.windowStart, text)
        }
        windowStartText.text.withUnsafeBytes { keyScratch.append($0) }
        let keyText = keyScratch.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        var w = WindowState(contract: contract, keyText: keyText, subject: subject, meter: m, dimensions: dims, windowEnd: windowEnd)
        if wm != .min && windowEnd <= wm {
            w.closed = true // arrives after its window closed: published as a late window
            w.revision = -1
        } else {
            openByEnd.add(rk, end: windowEnd)
        }
        return windows.insert(rk, w)
    }

    /// Runs `body` with the unescaped UTF-8 bytes of a string value (in place unless it has escapes).
    @inline(__always)
    static func withUnescaped(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef, _ body: (UnsafeRawBufferPointer) -> Void) {
        if ref.escaped {
            JSONScanner.unescape(base, ref).withUnsafeBytes(body)
        } else {
            body(UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end]))
        }
    }
}

extension WindowState {
    /// Adds a reading: to the aggregate while the window is open, else to `pendingLate`. Returns whether it was late.
    @inline(__always)
    mutating func add(_ r: MeterReading, time: Int64, identity: Hash128, kind: Aggregation) throws(DecimalError) -> Bool {
        if closed {
            if pendingLate == nil { pendingLate = Aggregate() }
            try pendingLate!.add(r, time: time, identity: identity, kind: kind)
            return true
        }
        try aggregate.add(r, time: time, identity: identity, kind: kind)
        return false
    }

    /// This window's key index in `lineage` for the current checkpoint (`generation`), registering the key text once.
    @inline(__always)
    mutating func lineageKey(slot: Int, generation: UInt32, lineage: inout LineageColumns) -> UInt32 {
        if lineageGeneration != generation {
            lineageKey = lineage.addKey(slot: slot)
            lineageGeneration = generation
        }
        return lineageKey
    }
}
