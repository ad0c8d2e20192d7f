import MeterlineCore

/// A partition's state could not be restored from its bytes (corrupt, truncated, another version, or a
/// config that no longer has the meter or contract the state refers to).
public struct StateError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "partition state: \(message)" }
}

/// Little-endian, varint-based writer for partition snapshots.
struct StateWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func varint(_ v: UInt64) {
        var x = v
        while x >= 0x80 { bytes.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
        bytes.append(UInt8(x))
    }
    mutating func int(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    mutating func int128(_ v: Int128) {
        let u = UInt128(bitPattern: (v << 1) ^ (v >> 127))
        varint(UInt64(truncatingIfNeeded: u)); varint(UInt64(truncatingIfNeeded: u >> 64))
    }
    mutating func hash(_ h: Hash128) { varint(h.high); varint(h.low) }
    mutating func string(_ s: String) { let u = Array(s.utf8); varint(UInt64(u.count)); bytes += u }
    mutating func bytesField(_ b: [UInt8]) { varint(UInt64(b.count)); bytes += b }
    mutating func bool(_ b: Bool) { u8(b ? 1 : 0) }
    mutating func optional128(_ v: Int128?) { if let v { u8(1); int128(v) } else { u8(0) } }
}

/// Reader for `StateWriter` bytes; every read is bounds-checked and throws `StateError`.
struct StateReader {
    let bytes: [UInt8]
    var pos = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func u8() throws(StateError) -> UInt8 {
        guard pos < bytes.count else { throw StateError("truncated at byte \(pos)") }
        defer { pos += 1 }
        return bytes[pos]
    }
    mutating func varint() throws(StateError) -> UInt64 {
        var r: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 { throw StateError("varint overflow at byte \(pos)") }
            r |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return r }
            shift += 7
            if shift > 63 { throw StateError("varint too long at byte \(pos)") }
        }
    }
    mutating func int() throws(StateError) -> Int64 { let u = try varint(); return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1))) }
    mutating func int128() throws(StateError) -> Int128 {
        let lo = try varint(), hi = try varint()
        let u = UInt128(hi) << 64 | UInt128(lo)
        return Int128(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    mutating func hash() throws(StateError) -> Hash128 { Hash128(high: try varint(), low: try varint()) }
    mutating func count(_ what: String, max: Int = 1 << 30) throws(StateError) -> Int {
        let n = try varint()
        guard n <= UInt64(max), n <= UInt64(bytes.count - pos) * 8 + 64 else { throw StateError("\(what): implausible count \(n)") }
        return Int(n)
    }
    mutating func string() throws(StateError) -> String {
        let n = try count("string length")
        guard pos + n <= bytes.count else { throw StateError("truncated string at byte \(pos)") }
        defer { pos += n }
        return String(decoding: bytes[pos..<pos + n], as: UTF8.self)
    }
    mutating func bytesField() throws(StateError) -> [UInt8] {
        let n = try count("field length")
        guard pos + n <= bytes.count else { throw StateError("truncated field at byte \(pos)") }
        defer { pos += n }
        return Array(bytes[pos..<pos + n])
    }
    mutating func bool() throws(StateError) -> Bool {
        let b = try u8()
        guard b <= 1 else { throw StateError("bad boolean at byte \(pos - 1)") }
        return b == 1
    }
    mutating func optional128() throws(StateError) -> Int128? { try bool() ? try int128() : nil }
}

extension Aggregate {
    func write(_ w: inout StateWriter) {
        w.int128(sum.raw); w.int(Int64(count))
        w.optional128(min?.raw); w.optional128(max?.raw); w.optional128(latest?.raw)
        w.int(latestTime); w.hash(latestTie)
        w.varint(UInt64(unique.count))
        for h in unique.sorted() { w.hash(h) }
    }
    static func read(_ r: inout StateReader) throws(StateError) -> Aggregate {
        let sum = Quantity(raw: try r.int128()), count = Int(try r.int())
        var rest = Aggregate.Rest()
        rest.min = try r.optional128().map(Quantity.init(raw:)); rest.max = try r.optional128().map(Quantity.init(raw:))
        rest.latest = try r.optional128().map(Quantity.init(raw:))
        rest.latestTime = try r.int(); rest.latestTie = try r.hash()
        let n = try r.count("unique values")
        for _ in 0..<n { rest.unique.insert(try r.hash()) }
        return Aggregate(sum: sum, count: count, rest: rest)
    }
}

extension Pipeline {
    static let snapshotMagic: [UInt8] = Array("MLPS".utf8)
    static let snapshotVersion: UInt8 = 2

    /// The complete state of one input partition, as bytes (for the `state` changelog): offsets, watermark,
    /// counters, dedup ids, windows (open, closed with pending late data, closed within open periods) and
    /// period positions. Take it right after `checkpoint()`, when no outputs are pending.
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
        let c = st.counters
        for v in [c.input, c.accepted, c.duplicate, c.keyMismatch, c.revisions, c.outOfRange] { w.int(Int64(v)) }
        w.varint(UInt64(c.rejected.count))
        for (r, n) in c.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { w.u8(r.rawValue); w.int(Int64(n)) }
        w.varint(UInt64(c.latePeriodClosed.count))
        for (p, n) in c.latePeriodClosed.sorted(by: { $0.key < $1.key }) { w.int(p); w.int(Int64(n)) }
        w.bytesField(st.seen.serialize())
        let windows = st.windows.entries.sorted { $0.value.keyText < $1.value.keyText }
        w.varint(UInt64(windows.count))
        for (k, v) in windows {
            w.hash(k.subject); w.string(catalog.meters[Int(k.meter)].slug); w.hash(k.dimensions); w.int(k.windowStart)
            w.string(v.keyText); w.string(v.subject); w.string(contracts.contracts[v.contract].subject)
            w.varint(UInt64(v.dimensions.count)); for (dk, dv) in v.dimensions { w.string(dk); w.string(dv) }
            w.int(v.windowEnd); v.aggregate.write(&w)
            if let p = v.pendingLate { w.u8(1); p.write(&w) } else { w.u8(0) }
            w.bool(v.closed); w.int(Int64(v.revision)); w.int128(v.amount.raw); w.int128(v.quantity.raw)
        }
        let periods = st.periods.entries.sorted { ($0.value.subject, $0.key.meter, $0.key.discriminator, $0.key.periodStart) < ($1.value.subject, $1.key.meter, $1.key.discriminator, $1.key.periodStart) }
        w.varint(UInt64(periods.count))
        for (k, p) in periods {
            w.hash(k.subject); w.string(catalog.meters[Int(k.meter)].slug); w.hash(k.discriminator); w.int(k.periodStart)
            w.int(p.periodEnd); w.string(contracts.contracts[p.contract].subject); w.string(p.subject)
            w.varint(UInt64(p.dimensions.count)); for (dk, dv) in p.dimensions { w.string(dk); w.string(dv) }
            p.aggregate.write(&w); w.optional128(p.quantity?.raw); w.int128(p.posted.raw)
            if let id = p.priceBookId { w.u8(1); w.string(id) } else { w.u8(0) }
            w.int(Int64(p.priceBookVersion ?? -1)); w.int(Int64(p.priceIndex ?? -1))
            w.varint(UInt64(p.members.count))
            for m in p.members { w.hash(m.subject); w.string(catalog.meters[Int(m.meter)].slug); w.hash(m.dimensions); w.int(m.windowStart) }
        }
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
        st.counters.input = Int(try r.int()); st.counters.accepted = Int(try r.int()); st.counters.duplicate = Int(try r.int())
        st.counters.keyMismatch = Int(try r.int()); st.counters.revisions = Int(try r.int()); st.counters.outOfRange = Int(try r.int())
        for _ in 0..<(try r.count("reject reasons", max: 64)) {
            guard let reason = RejectReason(rawValue: try r.u8()) else { throw StateError("unknown reject reason") }
            st.counters.rejected[reason] = Int(try r.int())
        }
        for _ in 0..<(try r.count("late periods")) { st.counters.latePeriodClosed[try r.int()] = Int(try r.int()) }
        do { st.seen = try DedupTable(deserializing: try r.bytesField()) } catch let e as DedupTableError { throw StateError("\(e)") } catch let e as StateError { throw e } catch { throw StateError("\(error)") }
        func meterIndex(_ slug: String) throws(StateError) -> Int {
            guard let i = catalog.meters.firstIndex(where: { $0.slug == slug }) else { throw StateError("meter '\(slug)' is not in the config") }
            return i
        }
        func contractIndex(_ subject: String) throws(StateError) -> Int {
            var hs = Hasher128(); hs.combine(subject)
            guard let i = contracts.lookup(hash: hs.finalize(), subject: { subject }) else { throw StateError("no contract for '\(subject)' in the config") }
            return i
        }
        for _ in 0..<(try r.count("windows")) {
            let subjectHash = try r.hash(); let meter = try meterIndex(try r.string())
            let k = RollupKey(subject: subjectHash, meter: Int32(meter), dimensions: try r.hash(), windowStart: try r.int())
            let keyText = try r.string(), subject = try r.string(), contract = try contractIndex(try r.string())
            var dims: [(String, String)] = []
            for _ in 0..<(try r.count("dimensions", max: 1024)) { dims.append((try r.string(), try r.string())) }
            var w = WindowState(contract: contract, keyText: keyText, subject: subject, meter: meter, dimensions: dims, windowEnd: try r.int())
            w.aggregate = try Aggregate.read(&r)
            if try r.bool() { w.pendingLate = try Aggregate.read(&r); st.pendingRevisions.insert(k) }
            w.closed = try r.bool(); w.revision = Int(try r.int()); w.amount = Amount(raw: try r.int128()); w.quantity = Quantity(raw: try r.int128())
            if !w.closed { st.openByEnd[w.windowEnd, default: []].append(k) }
            st.windows[k] = w
        }
        for _ in 0..<(try r.count("periods")) {
            let subjectHash = try r.hash(); let meter = try meterIndex(try r.string())
            let k = ScopeKey(subject: subjectHash, meter: Int32(meter), discriminator: try r.hash(), periodStart: try r.int())
            let periodEnd = try r.int(), contract = try contractIndex(try r.string()), subject = try r.string()
            var dims: [(String, String)] = []
            for _ in 0..<(try r.count("dimensions", max: 1024)) { dims.append((try r.string(), try r.string())) }
            var p = PeriodState(periodEnd: periodEnd, contract: contract, subject: subject, meter: meter, dimensions: dims)
            p.aggregate = try Aggregate.read(&r)
            p.quantity = try r.optional128().map(Quantity.init(raw:)); p.posted = Amount(raw: try r.int128())
            p.priceBookId = try r.bool() ? try r.string() : nil
            let v = try r.int(), idx = try r.int()
            p.priceBookVersion = v < 0 ? nil : Int(v); p.priceIndex = idx < 0 ? nil : Int(idx)
            for _ in 0..<(try r.count("period members")) {
                let subjectHash = try r.hash(); let mi = try meterIndex(try r.string())
                let mk = RollupKey(subject: subjectHash, meter: Int32(mi), dimensions: try r.hash(), windowStart: try r.int())
                guard st.windows[mk] != nil else { throw StateError("period member without its window") }
                p.members.append(mk)
            }
            st.periods[k] = p
        }
        guard r.pos == end else { throw StateError("content length mismatch") }
        if let s = slots[partition] { states[s] = st } else { slots[partition] = states.count; states.append(st) }
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
            for _ in 0..<(try r.count("period members")) { _ = try r.hash(); _ = try r.string(); _ = try r.hash(); _ = try r.int() }
        }
    }
}
