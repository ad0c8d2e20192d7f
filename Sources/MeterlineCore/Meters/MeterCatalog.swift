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

@inlinable @inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ aStart: Int, _ b: UnsafeRawBufferPointer, _ n: Int) -> Bool {
    var k = 0
    while k < n { if a[aStart + k] != b[k] { return false }; k &+= 1 }
    return true
}
