// Byte-level line index for LineageQuery: finds the lines a query needs by scanning for ids, so only those are parsed.
import Foundation
import MeterlineCore
import MeterlineLineage

/// A byte-level table of a JSONL file's non-empty lines, to find the few lines a query needs without parsing the rest.
///
/// Invariant: `starts`/`ends`/`numbers` list the lines `LineageQuery.lines` yields, in order. `plain` is true only if
/// the file holds no '\' and no byte ≥ 0x80: then every JSON string in it is its value's bytes verbatim, so a line
/// holding the string value v (ASCII, no '"' or '\') contains the bytes `"v"`. `idsAtLineStart` (billing file) is true
/// only if `plain` and every line starts with `{"id":"` followed by the id and a '"'; `slots` then index the
/// lines by a hash of their id.
struct LineIndex {
    let data: Data
    var starts: [Int] = []
    var ends: [Int] = []
    var numbers: [Int] = []
    var plain = true
    var idsAtLineStart = false
    private var idEnds: [Int] = []
    /// Open addressing by id hash (linear probing, -1 = empty); lines are inserted in file order, so along a probe
    /// sequence a later line of the same id comes after an earlier one.
    private var slots: [Int32] = []
    private var mask = 0
    static let idPrefix: [UInt8] = Array(#"{"id":""#.utf8)

    /// ASCII printable without '"' and '\': such a string is written verbatim and equals only itself.
    static func isPlain(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    static func hash(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = (h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        while i < n {
            h = (h ^ UInt64(p.load(fromByteOffset: i, as: UInt8.self))) &* 0x0000_0100_0000_01b3
            i += 1
        }
        return h ^ (h >> 32)
    }

    init(_ data: Data, idsAtLineStart wantIds: Bool) {
        self.data = data
        let count = data.count
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, count > 0 else { return }
            // No '\' and no byte ≥ 0x80, eight bytes at a time.
            var high: UInt64 = 0
            var i = 0
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            while i + 8 <= count {
                let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let x = w ^ (ones &* 0x5C)
                high |= w | ((x &- ones) & ~x & highs)
                i += 8
            }
            while i < count {
                let b = raw[i]
                if b == 0x5C { high |= highs }
                high |= UInt64(b)
                i += 1
            }
            plain = high & highs == 0

            var start = 0, n = 0
            var idsOK = wantIds && plain
            while start < count {
                n += 1
                let end = memchr(base + start, 0x0A, count - start).map { UnsafeRawPointer($0) - base } ?? count
                if end > start {
                    starts.append(start)
                    ends.append(end)
                    numbers.append(n)
                    if idsOK {
                        let p = Self.idPrefix.count
                        var idEnd = -1
                        if end - start > p, memcmp(base + start, Self.idPrefix, p) == 0,
                           let q = memchr(base + start + p, 0x22, end - start - p) {
                            idEnd = UnsafeRawPointer(q) - base
                        }
                        if idEnd < 0 { idsOK = false } else { idEnds.append(idEnd) }
                    }
                }
                start = end < count ? end + 1 : end
            }
            if idsOK {
                var size = 16
                while size < 2 * starts.count { size *= 2 }
                mask = size - 1
                slots = [Int32](repeating: -1, count: size)
                slots.withUnsafeMutableBufferPointer { t in
                    for l in starts.indices {
                        let s = starts[l] + Self.idPrefix.count
                        var j = Int(truncatingIfNeeded: Self.hash(base + s, idEnds[l] - s)) & mask
                        while t[j] >= 0 { j = (j + 1) & mask }
                        t[j] = Int32(l)
                    }
                }
            } else {
                idEnds = []
            }
            idsAtLineStart = idsOK
        }
    }

    /// The last line whose id is `id` (requires `idsAtLineStart`).
    func lastLine(withId id: String) -> Int? {
        precondition(idsAtLineStart)
        let key = Array(id.utf8)
        return data.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress else { return nil }
            var j = key.withUnsafeBytes { Int(truncatingIfNeeded: Self.hash($0.baseAddress ?? base, key.count)) } & mask
            var found: Int? = nil
            while slots[j] >= 0 {
                let l = Int(slots[j])
                let s = starts[l] + Self.idPrefix.count
                if idEnds[l] - s == key.count && memcmp(base + s, key, key.count) == 0 { found = l }
                j = (j + 1) & mask
            }
            return found
        }
    }

    /// The lines of `lines` whose bytes contain every needle.
    func filter(_ lines: [Int], containing needles: [String]) -> [Int] {
        let finders = needles.map { Needle(Array($0.utf8)) }
        return data.withUnsafeBytes { raw -> [Int] in
            guard let base = raw.baseAddress else { return [] }
            return lines.filter { l in finders.allSatisfy { $0.find(base, from: starts[l], to: ends[l]) != nil } }
        }
    }

    /// The lines (indexes, in file order) whose bytes contain every needle; the first needle is searched in the whole
    /// file, the others inside its lines.
    func lines(containing needles: [String]) -> [Int] {
        precondition(!needles.isEmpty)
        let finders = needles.map { Needle(Array($0.utf8)) }
        return data.withUnsafeBytes { raw -> [Int] in
            guard let base = raw.baseAddress else { return [] }
            var out: [Int] = []
            var pos = 0
            while let at = finders[0].find(base, from: pos, to: raw.count) {
                // The line holding `at`: the last start ≤ at.
                var lo = 0, hi = starts.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if starts[mid] <= at { lo = mid + 1 } else { hi = mid }
                }
                let l = lo - 1
                guard l >= 0, at < ends[l] else { pos = at + 1; continue }
                let s = starts[l], e = ends[l]
                if finders.dropFirst().allSatisfy({ $0.find(base, from: s, to: e) != nil }) { out.append(l) }
                pos = e
            }
            return out
        }
    }
}

/// Boyer–Moore–Horspool search for one non-empty byte string (Glibc's module does not export memmem).
struct Needle {
    let bytes: [UInt8]
    private var skip = [Int](repeating: 0, count: 256)

    init(_ bytes: [UInt8]) {
        precondition(!bytes.isEmpty)
        self.bytes = bytes
        for i in 0..<256 { skip[i] = bytes.count }
        for i in 0..<(bytes.count - 1) { skip[Int(bytes[i])] = bytes.count - 1 - i }
    }

    /// Offset of the first occurrence inside base[from..<to], if any.
    func find(_ base: UnsafeRawPointer, from: Int, to: Int) -> Int? {
        let m = bytes.count
        guard to - from >= m else { return nil }
        return bytes.withUnsafeBufferPointer { nb -> Int? in
            skip.withUnsafeBufferPointer { sk -> Int? in
                let last = nb[m - 1], first = nb[0], second = m > 2 ? nb[1] : nb[0]
                let secondAt = m > 2 ? 1 : 0
                var i = from
                while i + m <= to {
                    let c = base.load(fromByteOffset: i + m - 1, as: UInt8.self)
                    if c == last && base.load(fromByteOffset: i, as: UInt8.self) == first
                        && base.load(fromByteOffset: i + secondAt, as: UInt8.self) == second
                        && memcmp(base + i, nb.baseAddress!, m - 1) == 0 { return i }
                    i += sk[Int(c)]
                }
                return nil
            }
        }
    }
}
