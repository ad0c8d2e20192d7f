// Accumulates (key, event) pairs in columnar arrays and encodes them as one lineage file.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Accumulates events per key in memory, then writes one file.
///
/// Invariants: every appended event belongs to exactly one key; per key, events keep append
/// order; keys are distinct by their UTF-8 bytes. Encoding is a pure function of the
/// appends (in order), the compression level, the block target, the libzstd version and the
/// `write` arguments, so a retry of the same appends rewrites byte-identical files.
/// Appending never allocates per event beyond amortised growth of the column arrays.
public struct LineageWriter: Sendable {
    /// zstd level used for every frame (fixed per writer for determinism).
    public let compressionLevel: Int32
    /// A block is closed once it holds at least this many events; a key never spans blocks.
    public let blockTargetEvents: Int

    // Keys: dense key numbers, found by `keyIndex`. A key's events are not kept per key: each event records its
    // key number (`EventRow.key`) and `encode` groups them (a stable counting sort keeps append order per key).
    /// Every key's UTF-8, back to back in key-number order; key n is `keyBytes[keyRanges[n]]`. Bytes, not `String`s:
    /// a file registers each window a checkpoint touched (100k+ with many customers), and keeping, sorting and
    /// writing them as strings cost a retain and cache misses on each string's object per use.
    private var keyBytes: [UInt8] = []
    private var keyRanges: [(start: Int32, count: Int32)] = []
    /// A 64-bit hash of each key's UTF-8 (`keyHash`), by key number.
    private var keyHashes: [UInt64] = []
    /// Open addressing over `keyHashes`: entries are key number + 1, 0 is empty; at most half full. A `[String: Int32]`
    /// cost ~2,600 instructions per new key (SipHash of ~60 bytes, twice, and growth): a checkpoint's file
    /// registers every window it touched, so that was ~700 instructions per event of the lineage thread.
    private var keyIndex = [Int32](repeating: 0, count: 1024)
    /// Events per key number (0 for a key registered by `keyHandle(for:)` that has no event yet).
    private var keyCounts: [UInt32] = []
    /// Keys with at least one event.
    private var usedKeys = 0
    /// Bumped by `reset()`, so a handle from before a reset is caught.
    private var generation: UInt32 = 0

    // Sources: dense numbers, with a one-entry cache (few distinct sources per file).
    private var sourceNumbers: [String: UInt32] = [:]
    private var sourceNames: [String] = []
    private var lastSource = ""
    private var lastSourceNumber: UInt32 = .max

    // Events in append order, one 64-byte row each (`encode` moves whole rows into block order, not each column
    // separately); string ids' bytes in `idBytes`.
    private var rows: [EventRow] = []
    private var idBytes: [UInt8] = []
    /// Row buffers for grouping by key, shared by this writer's encodes (and its copies': the lock serializes them).
    private let scratch = RowScratch()

    /// - Parameter compressionLevel: 1 by default: on the backfill benchmark's lineage, level 3's files were no smaller
    ///   (459.6 against 458.7 MB for 20M events; the columns are already delta- and dictionary-coded) and its
    ///   compression took ~1.6× the CPU (BENCHMARKS.md, 2026-12-07 third session).
    public init(compressionLevel: Int32 = 1, blockTargetEvents: Int = 4096) {
        precondition(blockTargetEvents > 0, "blockTargetEvents must be positive")
        self.compressionLevel = compressionLevel
        self.blockTargetEvents = blockTargetEvents
    }

    public var eventCount: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }
    /// Number of distinct keys appended so far (keys with at least one event).
    public var keyCount: Int { usedKeys }

    /// A key resolved once by `keyHandle(for:)`, for `append(_:event:)`: lets a caller that appends many events to the
    /// same key (a rollup window) hash the key string once instead of once per event.
    ///
    /// Invariant: valid only for the writer that made it, until that writer's next `reset()`.
    public struct KeyHandle: Hashable, Sendable {
        let number: Int32
        let generation: UInt32
        /// Handles of one writer number its keys 0, 1, … in registration order (until its next `reset()`).
        public var index: Int { Int(number) }
    }

    /// The handle of `key` (registered if new; a key without events is not written). Same key (same UTF-8 bytes),
    /// same handle.
    public mutating func keyHandle(for key: String) -> KeyHandle {
        if let handle = key.utf8.withContiguousStorageIfAvailable({ keyHandle(utf8: UnsafeRawBufferPointer($0)) }) { return handle }
        return Array(key.utf8).withUnsafeBytes { keyHandle(utf8: $0) }
    }

    /// The handle of the key whose UTF-8 is `key` (registered if new): `keyHandle(for:)` of its text.
    public mutating func keyHandle(utf8 key: UnsafeRawBufferPointer) -> KeyHandle {
        let h = LineageWriter.keyHash(key)
        var i = keySlot(h, key)
        if keyIndex[i] != 0 { return KeyHandle(number: keyIndex[i] - 1, generation: generation) }
        if (keyRanges.count + 1) * 2 > keyIndex.count {
            growKeyIndex()
            i = keySlot(h, key)
        }
        precondition(keyBytes.count + key.count < Int(Int32.max), "a lineage file's keys hold under 2 GiB of text")
        let k = Int32(keyRanges.count)
        keyIndex[i] = k + 1
        keyRanges.append((Int32(keyBytes.count), Int32(key.count)))
        keyBytes.append(contentsOf: key)
        keyHashes.append(h)
        keyCounts.append(0)
        assert(keyRanges.count * 2 <= keyIndex.count)
        return KeyHandle(number: k, generation: generation)
    }

    /// The index entry of `key` (hash `h`), or the empty entry where it would go. Keys are equal by their bytes,
    /// so a hash collision costs a compare, never a wrong key. `mutating` only so that the call from `keyHandle`
    /// reads the writer in place: a non-mutating call from a mutating method copied the whole writer first.
    private mutating func keySlot(_ h: UInt64, _ key: UnsafeRawBufferPointer) -> Int {
        let mask = keyIndex.count - 1
        var i = Int(truncatingIfNeeded: h >> 32) & mask
        while true {
            let e = keyIndex[i]
            if e == 0 { return i }
            let n = Int(e - 1)
            if keyHashes[n] == h && Int(keyRanges[n].count) == key.count {
                let start = Int(keyRanges[n].start)
                let same = keyBytes.withUnsafeBytes { all in
                    key.isEmpty || memcmp(all.baseAddress! + start, key.baseAddress!, key.count) == 0
                }
                if same { return i }
            }
            i = (i + 1) & mask
        }
    }

    private mutating func growKeyIndex() {
        keyIndex = [Int32](repeating: 0, count: keyIndex.count * 2)
        let mask = keyIndex.count - 1
        for (n, h) in keyHashes.enumerated() {
            var i = Int(truncatingIfNeeded: h >> 32) & mask
            while keyIndex[i] != 0 { i = (i + 1) & mask }
            keyIndex[i] = Int32(n + 1)
        }
    }

    /// A 64-bit hash of a key's bytes: one multiply per 8 bytes (an index, not an identity: equal keys are found by
    /// comparing their text).
    static func keyHash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
        var i = 0
        while i &+ 8 <= b.count {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 29
            i &+= 8
        }
        var tail: UInt64 = 0
        while i < b.count { tail = tail << 8 | UInt64(b[i]); i &+= 1 }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }

    /// Appends `event` to `key`. Same file as `append(keyHandle(for: key), event:)`.
    public mutating func append(key: String, event: LineageEvent) {
        append(keyHandle(for: key), event: event)
    }

    /// Appends `event` to the key of `handle` (from this writer's `keyHandle(for:)`, since its last `reset()`).
    public mutating func append(_ handle: KeyHandle, event: LineageEvent) {
        precondition(rows.count < Int(UInt32.max), "a lineage file holds fewer than 2^32 events")
        precondition(handle.generation == generation && Int(handle.number) < keyCounts.count, "stale or foreign key handle")
        let k = Int(handle.number)
        if keyCounts[k] == 0 { usedKeys += 1 }
        keyCounts[k] &+= 1

        let s: UInt32
        if lastSourceNumber != .max && event.source == lastSource {
            s = lastSourceNumber
        } else {
            if let found = sourceNumbers[event.source] {
                s = found
            } else {
                s = UInt32(sourceNames.count)
                sourceNumbers[event.source] = s
                sourceNames.append(event.source)
            }
            lastSource = event.source
            lastSourceNumber = s
        }
        var id = event.id
        id.withUTF8 { utf8 in
            appendRow(key: UInt32(k), source: s, id: UnsafeRawBufferPointer(utf8), timeMicros: event.timeMicros, value: event.value, offset: event.offset)
        }
    }

    /// Appends the row of one event (key and source already counted and resolved).
    private mutating func appendRow(key: UInt32, source: UInt32, id: UnsafeRawBufferPointer, timeMicros: Int64, value: Int128, offset: Int64) {
        if let uuid = UUIDText.parse(id.assumingMemoryBound(to: UInt8.self)) {
            // The 16 bytes in text order (both halves big-endian), kept as two words.
            rows.append(EventRow(time: timeMicros, offset: offset, value: value, id0: uuid.hi.bigEndian, id1: uuid.lo.bigEndian,
                                 key: key, source: source, kind: uuid.kind))
        } else {
            let start = idBytes.count
            idBytes.append(contentsOf: id.assumingMemoryBound(to: UInt8.self))
            rows.append(EventRow(time: timeMicros, offset: offset, value: value, id0: UInt64(start), id1: UInt64(idBytes.count),
                                 key: key, source: source, kind: Format.idString))
        }
    }

    /// A source name resolved once by `sourceHandle(for:)`, for `append(_:source:id:timeMicros:value:offset:)`.
    ///
    /// Invariant: valid only for the writer that made it, until that writer's next `reset()`.
    public struct SourceHandle: Hashable, Sendable {
        let number: UInt32
        let generation: UInt32
    }

    /// The handle of `source` (registered if new). Same source, same handle.
    public mutating func sourceHandle(for source: String) -> SourceHandle {
        if let found = sourceNumbers[source] { return SourceHandle(number: found, generation: generation) }
        let s = UInt32(sourceNames.count)
        sourceNumbers[source] = s
        sourceNames.append(source)
        return SourceHandle(number: s, generation: generation)
    }

    /// Appends one event given as its parts, with the id as UTF-8 bytes: the same file as `append(_:event:)` with
    /// `LineageEvent(id: String(decoding: id, as: UTF8.self), ...)`, without a `String` per event.
    public mutating func append(_ handle: KeyHandle, source: SourceHandle, id: UnsafeRawBufferPointer,
                                timeMicros: Int64, value: Int128, offset: Int64) {
        precondition(rows.count < Int(UInt32.max), "a lineage file holds fewer than 2^32 events")
        precondition(handle.generation == generation && Int(handle.number) < keyCounts.count, "stale or foreign key handle")
        precondition(source.generation == generation && Int(source.number) < sourceNames.count, "stale or foreign source handle")
        let k = Int(handle.number)
        if keyCounts[k] == 0 { usedKeys += 1 }
        keyCounts[k] &+= 1
        appendRow(key: UInt32(k), source: source.number, id: id, timeMicros: timeMicros, value: value, offset: offset)
    }

    /// Reserves room for `events` more appends (avoids regrowing the columns when the checkpoint size is known).
    public mutating func reserveCapacity(events: Int) {
        rows.reserveCapacity(rows.count + events)
    }

    /// Forgets every append; keeps array capacity for the next checkpoint.
    public mutating func reset() {
        keyBytes.removeAll(keepingCapacity: true)
        keyRanges.removeAll(keepingCapacity: true)
        keyHashes.removeAll(keepingCapacity: true)
        keyIndex.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        keyCounts.removeAll(keepingCapacity: true)
        usedKeys = 0
        generation &+= 1
        sourceNumbers.removeAll(keepingCapacity: true)
        sourceNames.removeAll(keepingCapacity: true)
        lastSource = ""
        lastSourceNumber = .max
        rows.removeAll(keepingCapacity: true)
        idBytes.removeAll(keepingCapacity: true)
        assert(isEmpty && keyCount == 0)
    }

    /// The file name for a source and an inclusive offset range, e.g.
    /// `usage-3.00000000000000000042-00000000000000001041.mlz`. Offsets are zero-padded to 20
    /// digits so names sort by offset; bytes of `source` outside `[A-Za-z0-9_-]` (and `.`
    /// except inside the name) are percent-encoded so distinct sources give distinct names.
    public static func fileName(source: String, firstOffset: Int64, lastOffset: Int64) -> String {
        precondition(!source.isEmpty, "lineage source must not be empty")
        precondition(firstOffset >= 0 && lastOffset >= firstOffset, "bad offset range \(firstOffset)...\(lastOffset)")
        var encoded: [UInt8] = []
        let utf8 = Array(source.utf8)
        for (i, b) in utf8.enumerated() {
            let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x5F || b == 0x2D || (b == 0x2E && i > 0)
            if plain {
                encoded.append(b)
            } else {
                encoded.append(0x25)
                encoded.append(hexDigit(b >> 4))
                encoded.append(hexDigit(b & 0xF))
            }
        }
        if encoded.count > 180 {
            // Keep names under NAME_MAX: a prefix plus a hash of the whole source.
            let hash = utf8.withUnsafeBytes { fnv1a64($0) }
            encoded.removeLast(encoded.count - 160)
            encoded.append(0x7E)
            for shift in stride(from: 60, through: 0, by: -4) { encoded.append(hexDigit(UInt8(truncatingIfNeeded: hash >> UInt64(shift)) & 0xF)) }
        }
        let name = String(decoding: encoded, as: UTF8.self) + "." + pad20(firstOffset) + "-" + pad20(lastOffset) + ".mlz"
        assert(name.utf8.count <= 255)
        return name
    }

    private static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? 0x30 + n : 0x41 + n - 10 }

    private static func pad20(_ v: Int64) -> String {
        let digits = String(v)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// Writes atomically (temp file + fsync + rename + directory fsync) to
    /// `directory/fileName(source:firstOffset:lastOffset:)`; returns the file name and size.
    public func write(directory: String, source: String, firstOffset: Int64, lastOffset: Int64) throws -> (fileName: String, bytes: Int) {
        try write(directory: directory, source: source, firstOffset: firstOffset, lastOffset: lastOffset, formatVersion: Format.version)
    }

    /// `write` in a given format version: `Format.version`, or 1 for tests that check version 1 files still read.
    func write(directory: String, source: String, firstOffset: Int64, lastOffset: Int64, formatVersion: UInt32) throws -> (fileName: String, bytes: Int) {
        let name = Self.fileName(source: source, firstOffset: firstOffset, lastOffset: lastOffset)
        let image = try encode(source: source, firstOffset: firstOffset, lastOffset: lastOffset, fileName: name, formatVersion: formatVersion)
        try FileIO.writeAtomically(image, directory: directory, name: name)
        return (name, image.count)
    }

    /// The complete file image `write` would store (for tests, in-memory use and tools).
    public func encode(source: String, firstOffset: Int64, lastOffset: Int64) throws -> [UInt8] {
        try encode(source: source, firstOffset: firstOffset, lastOffset: lastOffset,
                   fileName: Self.fileName(source: source, firstOffset: firstOffset, lastOffset: lastOffset))
    }

    private func encode(source: String, firstOffset: Int64, lastOffset: Int64, fileName: String,
                        formatVersion: UInt32 = Format.version) throws(LineageError) -> [UInt8] {
        // Keys (with events) in ascending UTF-8 byte order: the order of the footer index and of the blocks.
        let sorted = keyBytes.withUnsafeBytes { Self.utf8Order(bytes: $0, ranges: keyRanges) { keyCounts[$0] > 0 } }
        let order = sorted.map(\.index)
        // Where each key's events start in that order, by rank (position in `order`).
        var rankStart = [Int](repeating: 0, count: order.count)
        var next = 0
        for (r, k) in order.enumerated() { rankStart[r] = next; next += Int(keyCounts[k]) }
        assert(next == rows.count)
        // Blocks: consecutive keys until a block holds at least `blockTargetEvents` events (a key never spans two).
        // `blockKeys[b]..<blockKeys[b + 1]` are block b's keys in `order`; its events start at `blockStart[b]`.
        var blockKeys: [Int] = []
        var blockStart: [Int] = []
        var places = [KeyPlace](repeating: KeyPlace(rank: 0, block: 0), count: keyRanges.count)
        var cursor = 0
        while cursor < order.count {
            blockKeys.append(cursor)
            let first = rankStart[cursor]
            blockStart.append(first)
            var end = first
            while cursor < order.count && end - first < blockTargetEvents {
                places[order[cursor]] = KeyPlace(rank: Int32(cursor), block: Int32(blockKeys.count - 1))
                end += Int(keyCounts[order[cursor]])
                cursor += 1
            }
        }
        blockKeys.append(order.count)
        blockStart.append(rows.count)
        return try scratch.rows.withLock { buffers throws(LineageError) -> [UInt8] in
            Self.stage(rows, places: places, blockStart: blockStart, into: &buffers)
            return try encode(buffers: &buffers, rankStart: rankStart, sortedKeys: sorted, blockKeys: blockKeys,
                              blockStart: blockStart, source: source, firstOffset: firstOffset, lastOffset: lastOffset,
                              fileName: fileName, formatVersion: formatVersion)
        }
    }

    /// A key's rank in the file's key order and its block.
    struct KeyPlace { var rank: Int32; var block: Int32 }

    /// Copies `rows` into `buffers.staged`, each after the rows of its block before it (`blockStart[b]`: where block
    /// b's run starts): block by block, in append order within a block. Each staged row's `key` is its key's rank
    /// (`places[key].rank`): a block's keys are then consecutive ranks, so grouping a block by key reads and writes
    /// a few small, nearby counters, where the keys' own numbers (their order of first use) were all over the
    /// file's 100k+ counters, a cache miss per event.
    ///
    /// The rows arrive in event order and blocks hold keys in text order, so every event's row moves far. Gathering
    /// each block's rows from all over the file's rows (a counting sort of their indexes first) was a cache and TLB
    /// miss per event: ~half the lineage thread's block encoding. Here the rows are read in order and written to
    /// one run per block (a hundred or so write streams), and a block's run, then within 256 KB, is grouped by key
    /// when the block is encoded.
    static func stage(_ rows: [EventRow], places: [KeyPlace], blockStart: [Int], into buffers: inout RowBuffers) {
        let n = rows.count
        buffers.prepare(count: n)
        rows.withUnsafeBufferPointer { all in
            buffers.staged.withUnsafeMutableBufferPointer { staged in
                places.withUnsafeBufferPointer { places in
                    var cursor = blockStart
                    cursor.withUnsafeMutableBufferPointer { cursor in
                        for i in 0..<n {
                            let place = places[Int(all[i].key)]
                            let b = Int(place.block)
                            staged[cursor[b]] = all[i]
                            staged[cursor[b]].key = UInt32(bitPattern: place.rank)
                            cursor[b] &+= 1
                        }
                    }
                }
            }
        }
    }

    private func encode(buffers: inout RowBuffers, rankStart: [Int],
                        sortedKeys: [(index: Int, start: Int, count: Int)], blockKeys: [Int],
                        blockStart: [Int], source: String, firstOffset: Int64, lastOffset: Int64, fileName: String,
                        formatVersion: UInt32) throws(LineageError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Format.headerSize + rows.count * 24 + 4096)
        out.append(contentsOf: Format.magic)
        out.appendUInt32LE(formatVersion)
        out.appendUInt32LE(0)
        assert(out.count == Format.headerSize)

        let compressor = ZstdCompressor(level: compressionLevel)
        var encoder = BlockEncoder(sourceCount: sourceNames.count)
        var blocks: [BlockEntry] = []
        var keyEntries: [(key: Int, block: Int, first: Int)] = []
        keyEntries.reserveCapacity(sortedKeys.count)

        // By rank, as the staged rows' `key`.
        var keySums = [Int128](repeating: 0, count: sortedKeys.count)
        var fill = rankStart
        for b in 0..<(blockKeys.count - 1) {
            let first = blockStart[b], end = blockStart[b + 1]
            for i in blockKeys[b]..<blockKeys[b + 1] {
                keyEntries.append((key: sortedKeys[i].index, block: b, first: rankStart[i] - first))
            }
            // The block's run, grouped by key (append order within a key), with Σ value per key.
            buffers.prepareBlock(count: end - first)
            buffers.staged.withUnsafeBufferPointer { staged in
                buffers.block.withUnsafeMutableBufferPointer { block in
                    fill.withUnsafeMutableBufferPointer { fill in
                        keySums.withUnsafeMutableBufferPointer { sums in
                            for i in first..<end {
                                let k = Int(staged[i].key)
                                block[fill[k] &- first] = staged[i]
                                fill[k] &+= 1
                                sums[k] = sums[k] &+ staged[i].value
                            }
                        }
                    }
                }
            }
            assert(end > first)
            buffers.block.withUnsafeBufferPointer { block in
                encoder.encode(UnsafeBufferPointer(rebasing: block[0..<(end - first)]), sourceNames: sourceNames, idBytes: idBytes)
            }
            let start = out.count
            var compressed = 0
            do {
                // One frame per column section: each gets its own entropy tables.
                for (i, sectionStart) in encoder.sections.enumerated() {
                    let sectionEnd = i + 1 < encoder.sections.count ? encoder.sections[i + 1] : encoder.body.count
                    compressed += try compressor.compress(encoder.body[sectionStart..<sectionEnd], appendingTo: &out)
                }
            } catch {
                throw LineageError(file: fileName, message: "zstd compression of block \(blocks.count) failed: \(error.message)", code: .compression)
            }
            encoder.uuidWords.withUnsafeBytes { out.append(contentsOf: $0) }
            let checksum = out[start...].withUnsafeBytes { Format.checksum($0, version: formatVersion) }
            blocks.append(BlockEntry(offset: start, compressedLength: compressed, uuidLength: encoder.uuidWords.count * 8,
                                     bodyLength: encoder.body.count, eventCount: end - first,
                                     keyCount: blockKeys[b + 1] - blockKeys[b], checksum: checksum))
        }
        assert(keyEntries.count == usedKeys)
        assert(blocks.reduce(0) { $0 + $1.eventCount } == rows.count)

        // Footer body.
        var footer: [UInt8] = []
        footer.appendVarint(source.utf8.count)
        footer.appendBytes(source)
        footer.appendVarint(zigzag(firstOffset))
        footer.appendVarint(zigzag(lastOffset))
        footer.appendVarint(rows.count)
        footer.appendVarint(blocks.count)
        for b in blocks {
            footer.appendVarint(b.offset)
            footer.appendVarint(b.compressedLength)
            footer.appendVarint(b.uuidLength)
            footer.appendVarint(b.bodyLength)
            footer.appendVarint(b.eventCount)
            footer.appendVarint(b.keyCount)
            footer.appendUInt64LE(b.checksum)
        }
        footer.appendVarint(keyEntries.count)
        // Each key's text after the prefix it shares with the previous key's. The texts are first gathered in key order
        // by a loop of independent copies, so that many of their cache misses are in flight at once (`keyBytes` holds
        // them in order of first use); read from `keyBytes` inside this loop, each key was a miss that nothing
        // overlapped, with 100k+ keys per file. A key's event count is its rank's span of `rankStart`.
        assert(keyEntries.count == sortedKeys.count && zip(keyEntries, sortedKeys).allSatisfy { $0.key == $1.index })
        let textLength = sortedKeys.reduce(0) { $0 + $1.count }
        let sortedText = keyBytes.withUnsafeBufferPointer { all in
            [UInt8](unsafeUninitializedCapacity: textLength) { buffer, count in
                var at = 0
                for k in sortedKeys {
                    UnsafeMutableRawPointer(buffer.baseAddress! + at).copyMemory(from: all.baseAddress! + k.start, byteCount: k.count)
                    at += k.count
                }
                count = at
            }
        }
        sortedText.withUnsafeBufferPointer { all in
            var previous = UnsafeBufferPointer<UInt8>(start: all.baseAddress, count: 0)
            var at = 0
            for (rank, e) in keyEntries.enumerated() {
                let bytes = UnsafeBufferPointer(rebasing: all[at..<at + sortedKeys[rank].count])
                at += bytes.count
                let shared = LineageWriter.commonPrefixCount(previous, bytes)
                footer.appendVarint(shared)
                footer.appendVarint(bytes.count - shared)
                footer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[shared...]))
                footer.appendVarint(e.block)
                footer.appendVarint(e.first)
                footer.appendVarint((rank + 1 < rankStart.count ? rankStart[rank + 1] : rows.count) - rankStart[rank])
                footer.appendVarint128(zigzag128(keySums[rank]))
                previous = bytes
            }
        }

        let footerOffset = out.count
        let footerLength: Int
        do {
            footerLength = try compressor.compress(footer[...], appendingTo: &out)
        } catch {
            throw LineageError(file: fileName, message: "zstd compression of footer failed: \(error.message)", code: .compression)
        }
        let footerChecksum = out[footerOffset...].withUnsafeBytes { Format.checksum($0, version: formatVersion) }

        // Trailer.
        out.appendUInt64LE(UInt64(footerOffset))
        out.appendUInt64LE(UInt64(footerLength))
        out.appendUInt64LE(UInt64(footer.count))
        out.appendUInt64LE(footerChecksum)
        out.appendUInt32LE(formatVersion)
        out.appendUInt32LE(0)
        out.append(contentsOf: Format.magic)
        assert(out.count == footerOffset + footerLength + Format.trailerSize)
        return out
    }
}

/// The row buffers of a writer and its copies (see `RowBuffers`), behind a lock taken once per file.
final class RowScratch: Sendable {
    let rows = Mutex(RowBuffers())
}

/// One block's footer entry. Invariant: `offset + compressedLength + uuidLength` is the end of
/// the block's stored bytes, and `uuidLength` is 16 × the number of UUID-kind ids in the block.
struct BlockEntry: Sendable {
    var offset: Int
    var compressedLength: Int
    var uuidLength: Int
    var bodyLength: Int
    var eventCount: Int
    var keyCount: Int
    var checksum: UInt64
}
