// Encodes one lineage block: the events of consecutive keys, from the writer's rows grouped by key, as the column
// sections of docs/lineage-format.md (compression and checksums are the writer's).

/// One appended event as the writer keeps it: 64 bytes.
///
/// Invariant: for UUID kinds `id0`/`id1` are the 16 id bytes in stored order (two words, as loaded from the
/// bytes); for `Format.idString`, `idBytes[id0..<id1]` of the writer holds the id's UTF-8.
struct EventRow: Sendable {
    var time: Int64
    var offset: Int64
    var value: Int128
    var id0: UInt64
    var id1: UInt64
    var key: UInt32
    var source: UInt32
    var kind: UInt8

    static let zero = EventRow(time: 0, offset: 0, value: 0, id0: 0, id1: 0, key: 0, source: 0, kind: 0)
}

/// The writer's row buffers, kept across files (their pages are faulted in once, not once per file): a file's
/// rows in runs by block (`LineageWriter.stage`), and one block's rows grouped by key.
/// Invariant: only the first rows of each are meaningful (as many as the current file, or block, has).
struct RowBuffers {
    var staged: [EventRow] = []
    var block: [EventRow] = []

    /// Makes room for `n` rows in `staged` (grows only).
    mutating func prepare(count n: Int) {
        if staged.count < n { staged.append(contentsOf: repeatElement(.zero, count: n - staged.count)) }
    }

    /// Makes room for `n` rows in `block` (grows only).
    mutating func prepareBlock(count n: Int) {
        if block.count < n { block.append(contentsOf: repeatElement(.zero, count: n - block.count)) }
    }
}

/// Encodes one block's columns. Reuses its buffers across blocks (amortised allocation only).
///
/// Invariant: after `encode`, `body` is the uncompressed block body and `uuidWords` the raw UUID
/// section for exactly the rows it was given, in that order.
struct BlockEncoder {
    private(set) var body: [UInt8] = []
    /// The raw UUID section as 8-byte words (two per UUID, bytes in stored order): appending a word is one
    /// store, where appending 16 bytes to a byte array is a `memmove` call per event.
    private(set) var uuidWords: [UInt64] = []
    /// Start of each separately compressed section of `body`: ids/sources, times, offsets, values.
    private(set) var sections: [Int] = []
    private var localSource: [UInt32]
    private var blockSources: [UInt32] = []
    private var scratch64: [Int64] = []
    private var scratch128: [Int128] = []
    private var deltas: [UInt64] = []

    init(sourceCount: Int) {
        localSource = Array(repeating: .max, count: sourceCount)
    }

    /// Encodes the rows of one block (consecutive keys' events, grouped by key in key order).
    mutating func encode(_ blockRows: UnsafeBufferPointer<EventRow>, sourceNames: [String], idBytes: [UInt8]) {
        body.removeAll(keepingCapacity: true)
        uuidWords.removeAll(keepingCapacity: true)
        sections.removeAll(keepingCapacity: true)
        sections.append(0)
        let n = blockRows.count
        precondition(n > 0)
        body.appendVarint(n)

        // Source dictionary in first-appearance order, then the index column when > 1 entry.
        blockSources.removeAll(keepingCapacity: true)
        for r in blockRows {
            let s = Int(r.source)
            if localSource[s] == .max {
                localSource[s] = UInt32(blockSources.count)
                blockSources.append(UInt32(s))
            }
        }
        body.appendVarint(blockSources.count)
        for s in blockSources {
            body.appendVarint(sourceNames[Int(s)].utf8.count)
            body.appendBytes(sourceNames[Int(s)])
        }
        if blockSources.count > 1 {
            for r in blockRows { body.appendVarint(UInt64(localSource[Int(r.source)])) }
        }
        for s in blockSources { localSource[Int(s)] = .max }

        // Ids: mode byte, optional kind column, string lengths, string bytes; UUIDs go raw.
        let firstKind = blockRows[0].kind
        var mixed = false
        for r in blockRows where r.kind != firstKind { mixed = true; break }
        body.append(mixed ? Format.idModeMixed : firstKind)
        if mixed {
            for r in blockRows { body.append(r.kind) }
        }
        let stringIds = firstKind == Format.idString && !mixed
        if mixed || stringIds {
            for r in blockRows where r.kind == Format.idString { body.appendVarint(Int(r.id1 - r.id0)) }
            idBytes.withUnsafeBufferPointer { all in
                for r in blockRows where r.kind == Format.idString {
                    body.append(contentsOf: UnsafeBufferPointer(rebasing: all[Int(r.id0)..<Int(r.id1)]))
                }
            }
        }
        // UUIDs (the usual ids, all of a block's rows) as words, written through a pointer: two array appends per
        // row were a uniqueness and a capacity check each.
        if !stringIds {
            let uuids = mixed ? blockRows.reduce(0) { $0 + ($1.kind == Format.idString ? 0 : 1) } : n
            uuidWords.append(contentsOf: repeatElement(0, count: 2 * uuids))
            uuidWords.withUnsafeMutableBufferPointer { w in
                var o = 0
                for r in blockRows where r.kind != Format.idString {
                    w[o] = r.id0
                    w[o &+ 1] = r.id1
                    o &+= 2
                }
            }
        }

        // Times and offsets: first value, then scaled deltas; each column gathered through a pointer into a buffer
        // kept across blocks (taken out of `self` while `appendInt64Column` writes the body).
        var column = scratch64
        scratch64 = []
        if column.count < n { column = Array(repeating: 0, count: n) }
        column.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[i] = blockRows[i].time } }
        column.withUnsafeBufferPointer { appendInt64Column(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        column.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[i] = blockRows[i].offset } }
        column.withUnsafeBufferPointer { appendInt64Column(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        scratch64 = column

        // Values: common decimal scale, then zigzag varints of value / 10^scale.
        if scratch128.count < n { scratch128 = Array(repeating: 0, count: n) }
        scratch128.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[i] = blockRows[i].value } }
        let scale = scratch128.withUnsafeBufferPointer { commonDecimalScale128(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        sections.append(body.count)
        body.append(UInt8(scale))
        // Written through a pointer (one capacity check per column). Scale 9, the usual one (whole units in
        // 9-decimal fixed point), divides by a constant: a multiply, not a 64-bit `idiv` per event.
        scratch128.withUnsafeBufferPointer { all in
            let values = UnsafeBufferPointer(rebasing: all[0..<n])
            body.append(upTo: values.count * 19) { out in
                var o = 0
                if scale == 9 {
                    for v in values {
                        if let small = Int64(exactly: v) { o += putVarint(zigzag(small / 1_000_000_000), out + o) }
                        else { o += putVarint128(zigzag128(v / 1_000_000_000), out + o) }
                    }
                } else if scale <= Format.maxInt64Scale {
                    let p64 = powersOf10Int64[scale]
                    let p128 = Int128(p64)
                    for v in values {
                        if let small = Int64(exactly: v) { o += putVarint(zigzag(small / p64), out + o) }
                        else { o += putVarint128(zigzag128(v / p128), out + o) }
                    }
                } else {
                    let p = powersOf10Int128[scale]
                    for v in values { o += putVarint128(zigzag128(v / p), out + o) }
                }
                return o
            }
        }
    }

    /// Column layout: u8 scale k, zigzag varint of v[0], u8 width w, then w byte planes of the
    /// n−1 values zigzag((v[i] − v[i−1]) / 10^k) (wrapping subtraction), least significant plane
    /// first. Each plane starts a new section: planes of random low bytes and nearly constant
    /// high bytes get their own entropy tables.
    private mutating func appendInt64Column(_ column: UnsafeBufferPointer<Int64>) {
        precondition(!column.isEmpty)
        let n = column.count
        var k = Format.maxInt64Scale
        var sawNonZero = false
        var i = 1
        while i < n {
            let d = column[i] &- column[i &- 1]
            if d != 0 {
                sawNonZero = true
                while k > 0 && d % powersOf10Int64[k] != 0 { k -= 1 }
                if k == 0 { break }
            }
            i &+= 1
        }
        if !sawNonZero { k = 0 }
        sections.append(body.count)
        body.append(UInt8(k))
        body.appendVarint(zigzag(column[0]))
        let p = powersOf10Int64[k]
        // The n − 1 zigzagged deltas, written through a pointer into a buffer kept across columns.
        if deltas.count < n { deltas = Array(repeating: 0, count: n) }
        let all: UInt64 = deltas.withUnsafeMutableBufferPointer { out in
            var all: UInt64 = 0
            for j in 1..<n {
                let d = column[j] &- column[j &- 1]
                assert(d % p == 0)
                let z = zigzag(k == 0 ? d : d / p) // no division by 1 (the common case for times and offsets)
                all |= z
                out[j &- 1] = z
            }
            return all
        }
        let width = (64 - all.leadingZeroBitCount + 7) / 8
        assert(width <= 8 && (width == 8 || all >> (8 * UInt64(width)) == 0))
        body.append(UInt8(width))
        deltas.withUnsafeBufferPointer { d in
            let m = n &- 1
            for plane in 0..<width {
                sections.append(body.count)
                let shift = UInt64(8 * plane)
                body.append(upTo: m) { out in
                    for j in 0..<m { out[j] = UInt8(truncatingIfNeeded: d[j] >> shift) }
                    return m
                }
            }
        }
    }
}
