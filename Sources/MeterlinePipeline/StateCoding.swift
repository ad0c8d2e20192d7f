import MeterlineCore

// Owns: the byte encoding of partition state shared by the full snapshot (PartitionSnapshot.swift) and the
// changelog (StateChangelog.swift): varint writer and bounds-checked reader, and one codec per state entry
// (counters, aggregates, windows, periods and their keys). Never imports Foundation or the Kafka module.

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
    /// A little-endian 64-bit word (checksums and ids, which a varint would lengthen).
    mutating func le64() throws(StateError) -> UInt64 {
        guard pos + 8 <= bytes.count else { throw StateError("truncated at byte \(pos)") }
        defer { pos += 8 }
        return StateReader.le64(bytes, pos)
    }
    static func le64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * i) }
        return v
    }
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
    func meterIndex(_ slug: String) throws(StateError) -> Int {
        guard let i = catalog.meters.firstIndex(where: { $0.slug == slug }) else { throw StateError("meter '\(slug)' is not in the config") }
        return i
    }

    func contractIndex(_ subject: String) throws(StateError) -> Int {
        var hs = Hasher128(); hs.combine(subject)
        guard let i = contracts.lookup(hash: hs.finalize(), subject: { subject }) else { throw StateError("no contract for '\(subject)' in the config") }
        return i
    }

    func writeCounters(_ c: Counters, to w: inout StateWriter) {
        for v in [c.input, c.accepted, c.duplicate, c.keyMismatch, c.revisions, c.outOfRange] { w.int(Int64(v)) }
        w.varint(UInt64(c.rejected.count))
        for (r, n) in c.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { w.u8(r.rawValue); w.int(Int64(n)) }
        w.varint(UInt64(c.latePeriodClosed.count))
        for (p, n) in c.latePeriodClosed.sorted(by: { $0.key < $1.key }) { w.int(p); w.int(Int64(n)) }
    }

    func readCounters(_ r: inout StateReader) throws(StateError) -> Counters {
        var c = Counters()
        c.input = Int(try r.int()); c.accepted = Int(try r.int()); c.duplicate = Int(try r.int())
        c.keyMismatch = Int(try r.int()); c.revisions = Int(try r.int()); c.outOfRange = Int(try r.int())
        for _ in 0..<(try r.count("reject reasons", max: 64)) {
            guard let reason = RejectReason(rawValue: try r.u8()) else { throw StateError("unknown reject reason") }
            c.rejected[reason] = Int(try r.int())
        }
        for _ in 0..<(try r.count("late periods")) { c.latePeriodClosed[try r.int()] = Int(try r.int()) }
        return c
    }

    /// The parts window and period keys share: subject hash, meter (by slug, so state survives a config that
    /// reorders its meters), a hash (dimensions or discriminator) and an instant (window or period start).
    func writeKeyParts(_ subject: Hash128, _ meter: Int32, _ hash: Hash128, _ instant: Int64, to w: inout StateWriter) {
        w.hash(subject); w.string(catalog.meters[Int(meter)].slug); w.hash(hash); w.int(instant)
    }

    func readKeyParts(_ r: inout StateReader) throws(StateError) -> (subject: Hash128, meter: Int32, hash: Hash128, instant: Int64) {
        let subject = try r.hash(); let meter = try meterIndex(try r.string())
        return (subject, Int32(meter), try r.hash(), try r.int())
    }

    func writeWindowKey(_ k: RollupKey, to w: inout StateWriter) { writeKeyParts(k.subject, k.meter, k.dimensions, k.windowStart, to: &w) }

    func readWindowKey(_ r: inout StateReader) throws(StateError) -> RollupKey {
        let p = try readKeyParts(&r)
        return RollupKey(subject: p.subject, meter: p.meter, dimensions: p.hash, windowStart: p.instant)
    }

    func writeWindow(_ k: RollupKey, _ v: WindowState, to w: inout StateWriter) {
        writeWindowKey(k, to: &w)
        w.string(v.keyText); w.string(v.subject); w.string(contracts.contracts[v.contract].subject)
        w.varint(UInt64(v.dimensions.count)); for (dk, dv) in v.dimensions { w.string(dk); w.string(dv) }
        w.int(v.windowEnd); v.aggregate.write(&w)
        if let p = v.pendingLate { w.u8(1); p.write(&w) } else { w.u8(0) }
        w.bool(v.closed); w.int(Int64(v.revision)); w.int128(v.amount.raw); w.int128(v.quantity.raw)
    }

    /// A window as `writeWindow` wrote it; its lineage registration starts empty (`lineageGeneration` .max).
    func readWindow(_ r: inout StateReader) throws(StateError) -> (RollupKey, WindowState) {
        let k = try readWindowKey(&r)
        let keyText = try r.string(), subject = try r.string(), contract = try contractIndex(try r.string())
        var dims: [(String, String)] = []
        for _ in 0..<(try r.count("dimensions", max: 1024)) { dims.append((try r.string(), try r.string())) }
        var w = WindowState(contract: contract, keyText: keyText, subject: subject, meter: Int(k.meter), dimensions: dims, windowEnd: try r.int())
        w.aggregate = try Aggregate.read(&r)
        if try r.bool() { w.pendingLate = try Aggregate.read(&r) }
        w.closed = try r.bool(); w.revision = Int(try r.int()); w.amount = Amount(raw: try r.int128()); w.quantity = Quantity(raw: try r.int128())
        return (k, w)
    }

    func writePeriodKey(_ k: ScopeKey, to w: inout StateWriter) { writeKeyParts(k.subject, k.meter, k.discriminator, k.periodStart, to: &w) }

    func readPeriodKey(_ r: inout StateReader) throws(StateError) -> ScopeKey {
        let p = try readKeyParts(&r)
        return ScopeKey(subject: p.subject, meter: p.meter, discriminator: p.hash, periodStart: p.instant)
    }

    func writePeriod(_ k: ScopeKey, _ p: PeriodState, to w: inout StateWriter) {
        writePeriodKey(k, to: &w)
        w.int(p.periodEnd); w.string(contracts.contracts[p.contract].subject); w.string(p.subject)
        w.varint(UInt64(p.dimensions.count)); for (dk, dv) in p.dimensions { w.string(dk); w.string(dv) }
        p.aggregate.write(&w); w.optional128(p.quantity?.raw); w.int128(p.posted.raw)
        if let id = p.priceBookId { w.u8(1); w.string(id) } else { w.u8(0) }
        w.int(Int64(p.priceBookVersion ?? -1)); w.int(Int64(p.priceIndex ?? -1))
        // Members share the scope's subject and meter: each is its window start (a delta from the previous) and
        // an index into the scope's distinct dimension hashes, about 6 bytes instead of 50.
        var dims: [Hash128] = [], index: [Hash128: Int] = [:]
        for m in p.members where index[m.dimensions] == nil { index[m.dimensions] = dims.count; dims.append(m.dimensions) }
        w.varint(UInt64(dims.count)); for d in dims { w.hash(d) }
        w.varint(UInt64(p.members.count))
        var previous = k.periodStart
        for m in p.members {
            w.varint(UInt64(index[m.dimensions]!)); w.int(m.windowStart - previous)
            previous = m.windowStart
        }
    }

    /// A period as `writePeriod` wrote it. Its members are not checked here: the caller checks them against
    /// the restored windows once every record is applied.
    func readPeriod(_ r: inout StateReader) throws(StateError) -> (ScopeKey, PeriodState) {
        let k = try readPeriodKey(&r)
        let periodEnd = try r.int(), contract = try contractIndex(try r.string()), subject = try r.string()
        var dims: [(String, String)] = []
        for _ in 0..<(try r.count("dimensions", max: 1024)) { dims.append((try r.string(), try r.string())) }
        var p = PeriodState(periodEnd: periodEnd, contract: contract, subject: subject, meter: Int(k.meter), dimensions: dims)
        p.aggregate = try Aggregate.read(&r)
        p.quantity = try r.optional128().map(Quantity.init(raw:)); p.posted = Amount(raw: try r.int128())
        p.priceBookId = try r.bool() ? try r.string() : nil
        let v = try r.int(), idx = try r.int()
        p.priceBookVersion = v < 0 ? nil : Int(v); p.priceIndex = idx < 0 ? nil : Int(idx)
        var dimensions: [Hash128] = []
        for _ in 0..<(try r.count("member dimensions")) { dimensions.append(try r.hash()) }
        var previous = k.periodStart
        for _ in 0..<(try r.count("period members")) {
            let d = Int(try r.varint())
            guard d < dimensions.count else { throw StateError("period member: dimension index \(d) of \(dimensions.count)") }
            let (start, overflow) = previous.addingReportingOverflow(try r.int())
            guard !overflow else { throw StateError("period member: window start overflows") }
            p.members.append(RollupKey(subject: k.subject, meter: k.meter, dimensions: dimensions[d], windowStart: start))
            previous = start
        }
        return (k, p)
    }
}

extension PartitionState {
    /// Rebuilds what is derived from the windows (the close queue, pending revisions) and checks that every
    /// period member has its window: the last step of both restores.
    mutating func rebuildDerived() throws(StateError) {
        openByEnd.removeAll()
        pendingRevisions.removeAll()
        for (k, w) in zip(windows.keys, windows.values) {
            if !w.closed { openByEnd.add(k, end: w.windowEnd) }
            if w.pendingLate != nil { pendingRevisions.insert(k) }
        }
        for p in periods.values {
            for m in p.members where windows.slot(forKey: m) == nil { throw StateError("period member without its window") }
        }
    }
}
