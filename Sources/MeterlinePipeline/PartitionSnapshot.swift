import MeterlineCore

// Owns: the full snapshot of one partition's state (one self-checking value), and its restore. The changelog
// the streaming engine writes is StateChangelog.swift; both use the entry codecs of StateCoding.swift.

extension Pipeline {
    static let snapshotMagic: [UInt8] = Array("MLPS".utf8)
    static let snapshotVersion: UInt8 = 3

    /// The complete state of one input partition as one value: offsets, watermark, counters, dedup ids, windows
    /// (open, closed with pending late data, closed within open periods) and period positions. The streaming
    /// engine writes the changelog instead (`changelog`, deltas per checkpoint); a snapshot is the whole state
    /// at once, to move a partition by hand or to compare two states byte for byte. Take it right after `checkpoint()`, when no outputs are pending.
    /// Deterministic: the same state gives the same bytes.
    public func snapshot(partition: Int32) -> [UInt8]? {
        guard let s = slots[partition] else { return nil }
        let st = states[s]
        precondition(st.billing.isEmpty && st.dlq.isEmpty && st.lineage.isEmpty, "snapshot after checkpoint(), with no outputs pending")
        var w = StateWriter()
        w.bytes += Pipeline.snapshotMagic
        w.u8(Pipeline.snapshotVersion)
        w.int(Int64(st.partition)); w.string(st.sourceName)
        w.int(st.firstOffset); w.int(st.lastOffset); w.int(st.nextOffset); w.int(st.maxEventTime)
        writeCounters(st.counters, to: &w)
        w.bytesField(st.seen.serialize())
        let windows = st.windows.entries.sorted { $0.value.keyText < $1.value.keyText }
        w.varint(UInt64(windows.count))
        for (k, v) in windows { writeWindow(k, v, to: &w) }
        let periods = st.periods.entries.sorted { ($0.value.subject, $0.key.meter, $0.key.discriminator, $0.key.periodStart) < ($1.value.subject, $1.key.meter, $1.key.discriminator, $1.key.periodStart) }
        w.varint(UInt64(periods.count))
        for (k, p) in periods { writePeriod(k, p, to: &w) }
        var h = Hasher128()
        w.bytes.withUnsafeBytes { h.combine($0) }
        let sum = h.finalize()
        w.hash(sum)
        return w.bytes
    }

    /// Replaces (or creates) a partition's state from `snapshot(partition:)` bytes. Meters and contracts are
    /// matched by slug and subject against this pipeline's config; a missing one is an error, not a silent skip.
    public func restore(partition: Int32, from bytes: [UInt8]) throws(StateError) {
        guard bytes.count > 8, Array(bytes[0..<4]) == Pipeline.snapshotMagic else { throw StateError("not a partition snapshot (bad magic)") }
        // Checksum: the trailing hash covers everything before it.
        var tail = StateReader(bytes)
        var end = 0
        do {
            // Find where the content ends by parsing it; the hash must follow.
            var r = StateReader(bytes)
            r.pos = 4
            try skipContent(&r)
            end = r.pos
            tail.pos = end
        }
        let stored = try tail.hash()
        guard tail.pos == bytes.count else { throw StateError("trailing bytes after the checksum") }
        var h = Hasher128()
        bytes[0..<end].withUnsafeBytes { h.combine($0) }
        guard h.finalize() == stored else { throw StateError("checksum mismatch") }

        var r = StateReader(bytes)
        r.pos = 4
        _ = try r.u8()
        guard Int32(truncatingIfNeeded: try r.int()) == partition else { throw StateError("snapshot is for another partition") }
        var st = PartitionState(partition: partition, sourceName: try r.string(), allowedLateness: config.settings.allowedLatenessMicros)
        st.firstOffset = try r.int(); st.lastOffset = try r.int(); st.nextOffset = try r.int(); st.maxEventTime = try r.int()
        st.counters = try readCounters(&r)
        do { st.seen = try DedupTable(deserializing: try r.bytesField()) } catch let e as DedupTableError { throw StateError("\(e)") } catch let e as StateError { throw e } catch { throw StateError("\(error)") }
        for _ in 0..<(try r.count("windows")) {
            let (k, w) = try readWindow(&r)
            st.windows[k] = w
        }
        for _ in 0..<(try r.count("periods")) {
            let (k, p) = try readPeriod(&r)
            st.periods[k] = p
        }
        try st.rebuildDerived()
        guard r.pos == end else { throw StateError("content length mismatch") }
        install(st)
    }

    /// Walks the content without building state (to locate the checksum).
    private func skipContent(_ r: inout StateReader) throws(StateError) {
        guard try r.u8() == Pipeline.snapshotVersion else { throw StateError("unsupported snapshot version") }
        _ = try r.int(); _ = try r.string()
        for _ in 0..<10 { _ = try r.int() }
        for _ in 0..<(try r.count("reject reasons", max: 64)) { _ = try r.u8(); _ = try r.int() }
        for _ in 0..<(try r.count("late periods")) { _ = try r.int(); _ = try r.int() }
        _ = try r.bytesField()
        func skipAggregate() throws(StateError) {
            _ = try r.int128(); _ = try r.int(); _ = try r.optional128(); _ = try r.optional128(); _ = try r.optional128()
            _ = try r.int(); _ = try r.hash()
            for _ in 0..<(try r.count("unique values")) { _ = try r.hash() }
        }
        for _ in 0..<(try r.count("windows")) {
            _ = try r.hash(); _ = try r.string(); _ = try r.hash(); _ = try r.int()
            _ = try r.string(); _ = try r.string(); _ = try r.string()
            for _ in 0..<(try r.count("dimensions", max: 1024)) { _ = try r.string(); _ = try r.string() }
            _ = try r.int(); try skipAggregate()
            if try r.bool() { try skipAggregate() }
            _ = try r.bool(); _ = try r.int(); _ = try r.int128(); _ = try r.int128()
        }
        for _ in 0..<(try r.count("periods")) {
            _ = try r.hash(); _ = try r.string(); _ = try r.hash(); _ = try r.int()
            _ = try r.int(); _ = try r.string(); _ = try r.string()
            for _ in 0..<(try r.count("dimensions", max: 1024)) { _ = try r.string(); _ = try r.string() }
            try skipAggregate(); _ = try r.optional128(); _ = try r.int128()
            if try r.bool() { _ = try r.string() }
            _ = try r.int(); _ = try r.int()
            for _ in 0..<(try r.count("member dimensions")) { _ = try r.hash() }
            for _ in 0..<(try r.count("period members")) { _ = try r.varint(); _ = try r.int() }
        }
    }
}
