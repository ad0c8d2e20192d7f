// Key texts of a lineage file: their byte order (the order of the footer index and of the blocks) and the prefixes
// consecutive keys share (the footer stores each key after the prefix it shares with the previous one).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension LineageWriter {
    /// The indexes of `names` for which `include` holds, in ascending UTF-8 byte order of the names (the order of
    /// `lexicographicallyPrecedes` on their bytes). Names are compared by their first 16 bytes as two big-endian
    /// words (zero-padded: a byte string sorts before its extensions either way), and by `memcmp` past them only on
    /// a tie; the generic byte-by-byte comparison was ~280 instructions per lineage event.
    static func utf8Order(_ names: [String], where include: (Int) -> Bool) -> [Int] {
        var bytes: [UInt8] = []
        var ranges: [(start: Int32, count: Int32)] = []
        for name in names {
            ranges.append((Int32(bytes.count), Int32(name.utf8.count)))
            bytes.append(contentsOf: name.utf8)
        }
        return bytes.withUnsafeBytes { utf8Order(bytes: $0, ranges: ranges, where: include).map(\.index) }
    }

    /// `utf8Order` of the byte strings `bytes[ranges[i]]`: the selected indexes, each with where its bytes lie.
    static func utf8Order(bytes b: UnsafeRawBufferPointer, ranges: [(start: Int32, count: Int32)],
                          where include: (Int) -> Bool) -> [(index: Int, start: Int, count: Int)] {
        struct Entry { var w0: UInt64; var w1: UInt64; var start: Int; var count: Int; var index: Int }
        /// Bytes `o ..< o + 8` of a string as a big-endian word, zero past its end (read byte by byte near the end
        /// of the buffer, where a word load would run past it).
        @inline(__always) func word(_ start: Int, _ count: Int, _ o: Int) -> UInt64 {
            guard count > o else { return 0 }
            let valid = min(8, count - o)
            if start + o + 8 <= b.count {
                let w = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: start + o, as: UInt64.self))
                return valid == 8 ? w : w & ~(UInt64.max >> UInt64(valid * 8))
            }
            var w: UInt64 = 0
            for j in 0..<valid { w |= UInt64(b[start + o + j]) << UInt64(8 * (7 - j)) }
            return w
        }
        var entries: [Entry] = []
        for i in ranges.indices where include(i) {
            let start = Int(ranges[i].start), count = Int(ranges[i].count)
            entries.append(Entry(w0: word(start, count, 0), w1: word(start, count, 8), start: start, count: count, index: i))
        }
        entries.sort { x, y in
            if x.w0 != y.w0 { return x.w0 < y.w0 }
            if x.w1 != y.w1 { return x.w1 < y.w1 }
            let n = min(x.count, y.count)
            if n > 16 {
                let c = memcmp(b.baseAddress! + x.start + 16, b.baseAddress! + y.start + 16, n - 16)
                if c != 0 { return c < 0 }
            }
            return x.count < y.count
        }
        return entries.map { ($0.index, $0.start, $0.count) }
    }

    /// The number of leading bytes `a` and `b` share. Eight bytes per step: sorted keys share most of their text
    /// (source, subject, meter, dimensions), and comparing it byte by byte was the footer's main cost with 100k+
    /// keys per file.
    static func commonPrefixCount(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(a.count, b.count)
        guard n > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return 0 }
        let ra = UnsafeRawPointer(pa), rb = UnsafeRawPointer(pb)
        var i = 0
        while i &+ 8 <= n {
            let x = ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ rb.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // The first differing byte is the lowest set byte of the little-endian difference.
            if x != 0 { return i &+ UInt64(littleEndian: x).trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        while i < n && pa[i] == pb[i] { i &+= 1 }
        return i
    }
}
