// The compiled set of meters, keyed by event type.

/// The compiled set of meters: event type → meters that read it.
/// Invariant: every meter index appears under exactly one type.
public struct MeterCatalog: Sendable {
    public let meters: [Meter]
    @usableFromInline let types: [[UInt8]]
    @usableFromInline let metersByType: [[Int]]

    public init(_ meters: [Meter]) {
        self.meters = meters
        var types: [[UInt8]] = []
        var byType: [[Int]] = []
        for (i, m) in meters.enumerated() {
            let t = Array(m.eventType.utf8)
            if let k = types.firstIndex(of: t) { byType[k].append(i) } else { types.append(t); byType.append([i]) }
        }
        self.types = types
        self.metersByType = byType
    }

    @inlinable
    func typeIndex(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Int? {
        let n = ref.end - ref.start
        var k = 0
        while k < types.count {
            let t = types[k]
            if t.count == n {
                let eq = t.withUnsafeBytes { tb in
                    if ref.escaped { return JSONScanner.unescape(base, ref).elementsEqual(tb) }
                    return memcmpEqual(base, ref.start, tb, n)
                }
                if eq { return k }
            }
            k &+= 1
        }
        if ref.escaped {
            let u = JSONScanner.unescape(base, ref)
            return types.firstIndex(of: u)
        }
        return nil
    }
}

/// Whether `a[aStart..<aStart+n]` equals `b[0..<n]` (both ranges must lie inside their buffers). Eight bytes at a
/// time, the last word overlapping the one before (it re-reads bytes already found equal); two overlapping 4- or
/// 2-byte loads below 8.
@inlinable @inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ aStart: Int, _ b: UnsafeRawBufferPointer, _ n: Int) -> Bool {
    if n < 8 {
        // Two overlapping loads cover 2...7 bytes.
        if n >= 4 {
            return a.loadUnaligned(fromByteOffset: aStart, as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: aStart &+ n &- 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)
        }
        if n >= 2 {
            return a.loadUnaligned(fromByteOffset: aStart, as: UInt16.self) == b.loadUnaligned(as: UInt16.self)
                && a.loadUnaligned(fromByteOffset: aStart &+ n &- 2, as: UInt16.self) == b.loadUnaligned(fromByteOffset: n &- 2, as: UInt16.self)
        }
        return n == 0 || a[aStart] == b[0]
    }
    @inline(__always) func wa(_ o: Int) -> UInt64 { a.loadUnaligned(fromByteOffset: aStart &+ o, as: UInt64.self) }
    @inline(__always) func wb(_ o: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
    var k = 0
    while k &+ 8 <= n {
        if wa(k) != wb(k) { return false }
        k &+= 8
    }
    return k == n || wa(n &- 8) == wb(n &- 8)
}
