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
    /// `lexicographicallyPrecedes` on their bytes). Names are ordered by their first 32 bytes as four big-endian
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
        /// A key's first 32 bytes as four big-endian words (zero past its end), and where it lies.
        struct Entry { var w0: UInt64; var w1: UInt64; var w2: UInt64; var w3: UInt64; var start: Int32; var count: Int32; var index: Int32 }
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
        // The words are read here, in the order the keys lie in `bytes`: sorting reads no key's bytes again unless
        // its first 32 bytes tie (with many customers, keys of one customer and meter share their first 16 bytes, and
        // comparing their rest in the sort was a cache miss per comparison).
        var entries: [Entry] = []
        for i in ranges.indices where include(i) {
            let start = Int(ranges[i].start), count = Int(ranges[i].count)
            entries.append(Entry(w0: word(start, count, 0), w1: word(start, count, 8), w2: word(start, count, 16),
                                 w3: word(start, count, 24), start: ranges[i].start, count: ranges[i].count, index: Int32(i)))
        }
        /// The order past the first 32 bytes, for keys whose first 32 bytes are equal.
        @inline(__always) func tail(_ x: Entry, _ y: Entry) -> Bool {
            let n = Int(min(x.count, y.count))
            if n > 32 {
                let c = memcmp(b.baseAddress! + Int(x.start) + 32, b.baseAddress! + Int(y.start) + 32, n - 32)
                if c != 0 { return c < 0 }
            }
            return x.count < y.count
        }
        /// The order of keys whose first 16 bytes are equal: the next two words, then `tail`.
        @inline(__always) func after16(_ x: Entry, _ y: Entry) -> Bool {
            x.w2 != y.w2 ? x.w2 < y.w2 : x.w3 != y.w3 ? x.w3 < y.w3 : tail(x, y)
        }
        guard entries.count >= 256 else {
            entries.sort { x, y in x.w0 != y.w0 ? x.w0 < y.w0 : x.w1 != y.w1 ? x.w1 < y.w1 : after16(x, y) }
            return entries.map { (Int($0.index), Int($0.start), Int($0.count)) }
        }
        // Many keys (100k+ per file with many customers): a stable radix sort by the first two words, least
        // significant byte first, skipping the bytes that all keys share (most of "eu-cust-"), then each run of keys
        // with equal first 16 bytes (one customer's meters, mostly: a few keys) by the other two words and `tail`.
        // A merge sort by comparisons, with a cache miss per comparison of such keys, was ~2.5 % of such a
        // backfill's CPU; radix passes over all four words cost as much again in memory traffic.
        var scratch = entries
        entries.withUnsafeMutableBufferPointer { a in
            scratch.withUnsafeMutableBufferPointer { t in
                var from = a, to = t
                var counts = [Int](repeating: 0, count: 256)
                var inScratch = false
                for pass in 0..<16 {
                    let shift = UInt64(8 * (pass & 7))
                    @inline(__always) func digit(_ e: Entry) -> Int {
                        Int(truncatingIfNeeded: ((pass < 8 ? e.w1 : e.w0) >> shift) & 0xFF)
                    }
                    for d in 0..<256 { counts[d] = 0 }
                    for e in from { counts[digit(e)] &+= 1 }
                    if counts[digit(from[0])] == from.count { continue }  // one byte value for all: order unchanged
                    var sum = 0
                    for d in 0..<256 { let c = counts[d]; counts[d] = sum; sum &+= c }
                    for e in from {
                        let d = digit(e)
                        to[counts[d]] = e
                        counts[d] &+= 1
                    }
                    swap(&from, &to)
                    inScratch.toggle()
                }
                if inScratch { _ = a.update(fromContentsOf: t) }
            }
        }
        var i = 0
        while i < entries.count {
            var j = i + 1
            while j < entries.count && entries[j].w0 == entries[i].w0 && entries[j].w1 == entries[i].w1 { j += 1 }
            if j - i > 1 { entries[i..<j].sort(by: after16) }
            i = j
        }
        return entries.map { (Int($0.index), Int($0.start), Int($0.count)) }
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
