// Reads lineage files: validates header, trailer and footer on open, then decodes single blocks
// on demand so that one key's events cost one block read and one decompression.

import Synchronization

/// A lineage file opened for reading; validates magic/version/footer checksum on open, every
/// error names the file.
///
/// Invariants after a successful `init`: `keys` is strictly ascending in UTF-8 byte order; each
/// key maps to one block and a contiguous event range inside it; block event counts equal the
/// sums of their keys' counts; blocks lie between the header and the footer. Blocks are
/// checksummed and decoded lazily, so a damaged block surfaces as a `LineageError` from
/// `events(forKey:)` / `allEvents()`, never as a trap. Safe to share across threads.
public struct LineageFile: Sendable {
    private struct KeyEntry: Sendable {
        var block: Int
        var first: Int
        var count: Int
        var valueSum: Int128
    }

    /// Shared, immutable state plus a diagnostic counter.
    private final class Storage: Sendable {
        let file: ReadableFile
        let blocksDecodedCounter = Atomic<Int>(0)
        init(file: ReadableFile) { self.file = file }
    }

    private let storage: Storage
    /// The path given to `init`, used in every error.
    public let path: String
    /// The input source passed to `LineageWriter.write`.
    public let source: String
    /// The offset range passed to `LineageWriter.write`.
    public let firstOffset: Int64
    public let lastOffset: Int64
    /// Total events in the file.
    public let eventCount: Int
    /// The file's format version (1: FNV-1a 64 checksums; 2: XXH64); both read the same.
    public let formatVersion: UInt32
    public let keys: [String]
    private let entries: [KeyEntry]
    private let blocks: [BlockEntry]

    /// Number of blocks in the file.
    public var blockCount: Int { blocks.count }
    /// Blocks decompressed through this handle (and its copies) so far; diagnostics and tests.
    public var blocksDecoded: Int { storage.blocksDecodedCounter.load(ordering: .relaxed) }

    public init(path: String) throws {
        let file = try ReadableFile(path: path)
        self.path = path
        self.storage = Storage(file: file)

        func fail(_ message: String, _ code: LineageError.Code = .corrupt) -> LineageError {
            LineageError(file: path, message: message, code: code)
        }

        guard file.size >= Format.headerSize + Format.trailerSize else {
            if file.size >= 8, try file.read(offset: 0, count: 8, what: "magic") != Format.magic {
                throw fail("not a lineage file (bad magic)", .notLineage)
            }
            throw fail("file is \(file.size) bytes, shorter than a header and trailer (truncated or not a lineage file)", .truncated)
        }
        let header = try file.read(offset: 0, count: Format.headerSize, what: "header")
        guard Array(header[0..<8]) == Format.magic else { throw fail("not a lineage file (bad magic)", .notLineage) }
        let trailer = try file.read(offset: file.size - Format.trailerSize, count: Format.trailerSize, what: "trailer")
        guard Array(trailer[40..<48]) == Format.magic else {
            throw fail("trailer magic missing (file truncated or overwritten)", .truncated)
        }

        var footerOffset = 0, footerLength = 0, footerBodyLength = 0
        var footerChecksum: UInt64 = 0
        var version: UInt32 = 0
        do throws(Malformed) {
            try header.withBytes { (raw) throws(Malformed) in
                var r = UnsafeByteReader(raw)
                _ = try r.slice(8, "magic")
                version = try r.uint32LE("version")
                guard Format.readableVersions.contains(version) else {
                    throw Malformed("unsupported version \(version), this reader knows \(Format.readableVersions.lowerBound)...\(Format.readableVersions.upperBound)")
                }
                let flags = try r.uint32LE("flags")
                guard flags == 0 else { throw Malformed("unknown header flags \(flags)") }
            }
            try trailer.withBytes { (raw) throws(Malformed) in
                var r = UnsafeByteReader(raw)
                let limit = UInt64(file.size)
                let o = try r.uint64LE("footer offset"), l = try r.uint64LE("footer length"), b = try r.uint64LE("footer body length")
                guard o <= limit, l <= limit, b <= UInt64(Format.maxBodySize) else { throw Malformed("trailer fields out of range") }
                footerOffset = Int(o); footerLength = Int(l); footerBodyLength = Int(b)
                footerChecksum = try r.uint64LE("footer checksum")
                let trailerVersion = try r.uint32LE("trailer version")
                guard Format.readableVersions.contains(trailerVersion) else { throw Malformed("unsupported version \(trailerVersion) in trailer") }
                guard trailerVersion == version else { throw Malformed("trailer version \(trailerVersion) differs from header version \(version)") }
                let flags = try r.uint32LE("trailer flags")
                guard flags == 0 else { throw Malformed("unknown trailer flags \(flags)") }
            }
        } catch {
            throw fail(error.message, error.message.hasPrefix("unsupported version") ? .unsupportedVersion : .corrupt)
        }
        guard footerOffset >= Format.headerSize, footerLength > 0,
              footerOffset + footerLength + Format.trailerSize == file.size
        else {
            throw fail("footer at \(footerOffset)+\(footerLength) does not end where the trailer starts (\(file.size - Format.trailerSize))")
        }
        let stored = try file.read(offset: footerOffset, count: footerLength, what: "footer")
        self.formatVersion = version
        let actual = stored.withUnsafeBytes { Format.checksum($0, version: version) }
        guard actual == footerChecksum else {
            throw fail("footer checksum mismatch (stored \(hex(footerChecksum)), computed \(hex(actual)))", .checksumMismatch)
        }
        guard footerBodyLength > 0 else { throw fail("empty footer body") }
        let body: [UInt8]
        do {
            let dctx = ZstdDecompressor()
            body = try stored.withBytes { (raw) throws(ZstdFailure) in try dctx.decompress(raw, expectedSize: footerBodyLength) }
        } catch {
            throw fail("footer does not decompress: \(error.message)", .compression)
        }

        do throws(Malformed) {
            let parsed = try body.withBytes { (raw) throws(Malformed) in
                try Self.parseFooter(raw, fileSize: file.size, footerOffset: footerOffset)
            }
            self.source = parsed.source
            self.firstOffset = parsed.firstOffset
            self.lastOffset = parsed.lastOffset
            self.eventCount = parsed.eventCount
            self.blocks = parsed.blocks
            self.keys = parsed.keys
            self.entries = parsed.entries
        } catch {
            throw fail("footer is malformed: \(error.message)")
        }
        assert(entries.count == keys.count)
        assert(blocks.reduce(0) { $0 + $1.eventCount } == eventCount)
    }

    private static func parseFooter(_ raw: UnsafeRawBufferPointer, fileSize: Int, footerOffset: Int) throws(Malformed)
        -> (source: String, firstOffset: Int64, lastOffset: Int64, eventCount: Int, blocks: [BlockEntry], keys: [String], entries: [KeyEntry])
    {
        var r = UnsafeByteReader(raw)
        let source = try r.string(try r.count("source length", limit: r.remaining), "source")
        let firstOffset = unzigzag(try r.varint("first offset"))
        let lastOffset = unzigzag(try r.varint("last offset"))
        let eventCount = try r.count("event count", limit: Int(UInt32.max))
        let blockCount = try r.count("block count", limit: r.remaining)
        var blocks: [BlockEntry] = []
        blocks.reserveCapacity(blockCount)
        var expectedOffset = Format.headerSize
        var totalEvents = 0
        for b in 0..<blockCount {
            let e = BlockEntry(
                offset: try r.count("block \(b) offset", limit: fileSize),
                compressedLength: try r.count("block \(b) length", limit: fileSize),
                uuidLength: try r.count("block \(b) uuid length", limit: fileSize),
                bodyLength: try r.count("block \(b) body length", limit: Format.maxBodySize),
                eventCount: try r.count("block \(b) event count", limit: Int(UInt32.max)),
                keyCount: try r.count("block \(b) key count", limit: Int(UInt32.max)),
                checksum: try r.uint64LE("block \(b) checksum"))
            guard e.offset == expectedOffset else { throw Malformed("block \(b) starts at \(e.offset), expected \(expectedOffset)") }
            guard e.compressedLength > 0, e.bodyLength > 0, e.eventCount > 0, e.keyCount > 0 else { throw Malformed("block \(b) is empty") }
            guard e.uuidLength % 16 == 0, e.uuidLength / 16 <= e.eventCount else { throw Malformed("block \(b) uuid section of \(e.uuidLength) bytes") }
            expectedOffset = e.offset + e.compressedLength + e.uuidLength
            guard expectedOffset <= footerOffset else { throw Malformed("block \(b) overlaps the footer") }
            totalEvents += e.eventCount
            blocks.append(e)
        }
        guard expectedOffset == footerOffset else { throw Malformed("blocks end at \(expectedOffset), footer starts at \(footerOffset)") }
        guard totalEvents == eventCount else { throw Malformed("blocks hold \(totalEvents) events, footer says \(eventCount)") }

        let keyCount = try r.count("key count", limit: r.remaining)
        var keys: [String] = []
        var entries: [KeyEntry] = []
        keys.reserveCapacity(keyCount)
        entries.reserveCapacity(keyCount)
        var previous: [UInt8] = []
        var current: [UInt8] = []
        var block = 0, keysInBlock = 0, eventsInBlock = 0
        for k in 0..<keyCount {
            let shared = try r.count("key \(k) shared prefix", limit: previous.count)
            let suffix = try r.slice(try r.count("key \(k) suffix length", limit: r.remaining), "key \(k) suffix")
            current.removeAll(keepingCapacity: true)
            current.append(contentsOf: previous[0..<shared])
            current.append(contentsOf: suffix)
            guard k == 0 || previous.lexicographicallyPrecedes(current) else { throw Malformed("key \(k) is not after key \(k - 1)") }
            let entry = KeyEntry(
                block: try r.count("key \(k) block", limit: blockCount - 1),
                first: try r.count("key \(k) first event", limit: Int(UInt32.max)),
                count: try r.count("key \(k) event count", limit: Int(UInt32.max)),
                valueSum: unzigzag128(try r.varint128("key \(k) value sum")))
            // Keys fill blocks in order, each block's keys back to back from event 0.
            if entry.block != block {
                guard entry.block == block + 1, keysInBlock == blocks[block].keyCount, eventsInBlock == blocks[block].eventCount else {
                    throw Malformed("key \(k) jumps from block \(block) to block \(entry.block)")
                }
                block = entry.block; keysInBlock = 0; eventsInBlock = 0
            }
            guard entry.count > 0, entry.first == eventsInBlock else { throw Malformed("key \(k) event range does not follow its predecessor") }
            keysInBlock += 1
            eventsInBlock += entry.count
            guard eventsInBlock <= blocks[block].eventCount else { throw Malformed("key \(k) overruns block \(block)") }
            keys.append(String(decoding: current, as: UTF8.self))
            entries.append(entry)
            swap(&previous, &current)
        }
        if keyCount == 0 {
            guard blockCount == 0 else { throw Malformed("\(blockCount) blocks but no keys") }
        } else {
            guard block == blockCount - 1, keysInBlock == blocks[block].keyCount, eventsInBlock == blocks[block].eventCount else {
                throw Malformed("keys do not cover every block exactly")
            }
        }
        guard r.isAtEnd else { throw Malformed("\(r.remaining) trailing bytes") }
        return (source, firstOffset, lastOffset, eventCount, blocks, keys, entries)
    }

    /// The position of `key` in `keys`, by binary search in UTF-8 byte order (the order `keys` is in): a dictionary of
    /// the keys, built when the file was opened, was most of the cost of opening a file of many windows only to read
    /// its offsets (`backfill --previous`, BENCHMARKS.md, 2026-12-07, tenth session). Keys match byte for byte.
    private func position(of key: String) -> Int? {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].utf8.lexicographicallyPrecedes(key.utf8) { lo = mid + 1 } else { hi = mid }
        }
        return lo < keys.count && keys[lo].utf8.elementsEqual(key.utf8) ? lo : nil
    }

    /// Event count and Σ value (wrapping, mod 2^128) of a key, from the footer alone; nil if absent.
    public func summary(forKey key: String) -> (events: Int, valueSum: Int128)? {
        guard let i = position(of: key) else { return nil }
        return (entries[i].count, entries[i].valueSum)
    }

    /// The key's events in append order, reading and decompressing only the key's block.
    /// A key not in the file has no events (`[]`); use `summary(forKey:)` to tell absence apart.
    public func events(forKey key: String) throws -> [LineageEvent] {
        guard let i = position(of: key) else { return [] }
        let entry = entries[i]
        var out: [LineageEvent] = []
        out.reserveCapacity(entry.count)
        let dctx = ZstdDecompressor()
        try decodeBlock(entry.block, range: entry.first..<(entry.first + entry.count), dctx: dctx, into: &out)
        assert(out.count == entry.count)
        return out
    }

    /// Every (key, event) in key order, events per key in append order; decodes each block once.
    public func allEvents() throws -> [(key: String, event: LineageEvent)] {
        var result: [(key: String, event: LineageEvent)] = []
        result.reserveCapacity(eventCount)
        var blockEvents: [LineageEvent] = []
        let dctx = ZstdDecompressor()
        var k = 0
        for b in blocks.indices {
            blockEvents.removeAll(keepingCapacity: true)
            try decodeBlock(b, range: 0..<blocks[b].eventCount, dctx: dctx, into: &blockEvents)
            var position = 0
            while k < entries.count && entries[k].block == b {
                assert(entries[k].first == position)
                for e in blockEvents[position..<(position + entries[k].count)] { result.append((keys[k], e)) }
                position += entries[k].count
                k += 1
            }
            assert(position == blockEvents.count)
        }
        assert(result.count == eventCount)
        return result
    }

    /// The input offset of every event of the file, in block order (an event's readings each have a row, so its
    /// offset appears once per reading). Decodes only the columns before the offsets: no id, key or value is built,
    /// which made `allEvents()` ~10× slower for a reader that needs the positions only (`backfill --previous`).
    public func allOffsets() throws -> [Int64] {
        var result: [Int64] = []
        result.reserveCapacity(eventCount)
        let dctx = ZstdDecompressor()
        for b in blocks.indices {
            try withBlockBody(b, dctx: dctx) { (raw, uuids) throws(Malformed) in
                try BlockDecoder.offsets(raw, uuids: uuids, eventCount: blocks[b].eventCount, into: &result)
            }
        }
        assert(result.count == eventCount)
        return result
    }

    private func decodeBlock(_ b: Int, range: Range<Int>, dctx: borrowing ZstdDecompressor,
                             into out: inout [LineageEvent]) throws(LineageError) {
        precondition(range.lowerBound >= 0 && range.upperBound <= blocks[b].eventCount)
        let before = out.count
        try withBlockBody(b, dctx: dctx) { (raw, uuids) throws(Malformed) in
            try BlockDecoder.decode(raw, uuids: uuids, eventCount: blocks[b].eventCount, range: range, into: &out)
        }
        assert(out.count == before + range.count)
    }

    /// Reads block `b`, checks its checksum, decompresses its body and runs `decode` on the body and the raw UUID
    /// section; a malformed body is reported as a corrupt block of this file.
    private func withBlockBody(_ b: Int, dctx: borrowing ZstdDecompressor,
                               _ decode: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(Malformed) -> Void) throws(LineageError) {
        let block = blocks[b]
        storage.blocksDecodedCounter.add(1, ordering: .relaxed)
        let stored = try storage.file.read(offset: block.offset, count: block.compressedLength + block.uuidLength, what: "block \(b)")
        let actual = stored.withUnsafeBytes { Format.checksum($0, version: formatVersion) }
        guard actual == block.checksum else {
            throw LineageError(file: path, message: "block \(b) checksum mismatch (stored \(hex(block.checksum)), computed \(hex(actual)))",
                               code: .checksumMismatch)
        }
        let body: [UInt8]
        do {
            body = try stored.withBytes { (raw) throws(ZstdFailure) in
                try dctx.decompress(UnsafeRawBufferPointer(rebasing: raw[0..<block.compressedLength]), expectedSize: block.bodyLength)
            }
        } catch {
            throw LineageError(file: path, message: "block \(b) does not decompress: \(error.message)", code: .compression)
        }
        do throws(Malformed) {
            try body.withBytes { (raw) throws(Malformed) in
                try stored.withBytes { (storedRaw) throws(Malformed) in
                    try decode(raw, UnsafeRawBufferPointer(rebasing: storedRaw[block.compressedLength...]))
                }
            }
        } catch {
            throw LineageError(file: path, message: "block \(b) is malformed: \(error.message)", code: .corrupt)
        }
    }
}

private func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// Decodes one block body (see BlockEncoder for the layout). Stateless.
enum BlockDecoder {
    /// The columns before the times: sources and ids (see BlockEncoder), read and checked.
    private struct IdColumns {
        var sourceNames: [String] = []
        var sourceIndex: [UInt32] = []
        var mode: UInt8 = 0
        var kinds: UnsafeRawBufferPointer? = nil
        var stringLengths: [Int] = []
        var stringBytes = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// Reads the event count, sources and ids of a body; with `keep` false, only checks and skips them.
    private static func idColumns(_ r: inout UnsafeByteReader, uuids: UnsafeRawBufferPointer, eventCount: Int,
                                  keep: Bool) throws(Malformed) -> (n: Int, ids: IdColumns) {
        var c = IdColumns()
        let n = try r.count("event count", limit: Int(UInt32.max))
        guard n == eventCount else { throw Malformed("body holds \(n) events, index says \(eventCount)") }
        let sourceCount = try r.count("source count", limit: n)
        guard sourceCount > 0 else { throw Malformed("no sources") }
        if keep { c.sourceNames.reserveCapacity(sourceCount) }
        for s in 0..<sourceCount {
            let length = try r.count("source \(s) length", limit: r.remaining)
            if keep { c.sourceNames.append(try r.string(length, "source \(s)")) } else { _ = try r.slice(length, "source \(s)") }
        }
        if sourceCount > 1 {
            if keep { c.sourceIndex.reserveCapacity(n) }
            for _ in 0..<n {
                let i = UInt32(try r.count("source index", limit: sourceCount - 1))
                if keep { c.sourceIndex.append(i) }
            }
        }
        c.mode = try r.byte("id mode")
        guard c.mode <= Format.idModeMixed else { throw Malformed("unknown id mode \(c.mode)") }
        var stringCount = c.mode == Format.idString ? n : 0
        if c.mode == Format.idModeMixed {
            let k = try r.slice(n, "id kinds")
            stringCount = 0
            for kind in k {
                guard kind <= Format.idUUIDUpper else { throw Malformed("unknown id kind \(kind)") }
                if kind == Format.idString { stringCount += 1 }
            }
            c.kinds = k
        }
        guard uuids.count == 16 * (n - stringCount) else {
            throw Malformed("uuid section has \(uuids.count) bytes for \(n - stringCount) uuids")
        }
        if keep { c.stringLengths.reserveCapacity(stringCount) }
        var stringBytesTotal = 0
        for _ in 0..<stringCount {
            let l = try r.count("id length", limit: r.remaining)
            if keep { c.stringLengths.append(l) }
            stringBytesTotal += l
            guard stringBytesTotal <= r.remaining else { throw Malformed("id lengths exceed the block body") }
        }
        c.stringBytes = try r.slice(stringBytesTotal, "id bytes")
        return (n, c)
    }

    /// The block's offsets column, appended to `out` (the columns before it are checked as `decode` checks them;
    /// the values after it are not read).
    static func offsets(_ body: UnsafeRawBufferPointer, uuids: UnsafeRawBufferPointer, eventCount: Int,
                        into out: inout [Int64]) throws(Malformed) {
        var r = UnsafeByteReader(body)
        let n = try idColumns(&r, uuids: uuids, eventCount: eventCount, keep: false).n
        _ = try int64Column(&r, n, "time")
        out.append(contentsOf: try int64Column(&r, n, "offset"))
    }

    static func decode(_ body: UnsafeRawBufferPointer, uuids: UnsafeRawBufferPointer, eventCount: Int,
                       range: Range<Int>, into out: inout [LineageEvent]) throws(Malformed) {
        var r = UnsafeByteReader(body)
        let (n, ids) = try idColumns(&r, uuids: uuids, eventCount: eventCount, keep: true)
        let sourceNames = ids.sourceNames, sourceIndex = ids.sourceIndex, sourceCount = ids.sourceNames.count
        let mode = ids.mode, kinds = ids.kinds, stringLengths = ids.stringLengths, stringBytes = ids.stringBytes

        let times = try int64Column(&r, n, "time")
        let offsets = try int64Column(&r, n, "offset")

        let scale = Int(try r.byte("value scale"))
        guard scale <= Format.maxInt128Scale else { throw Malformed("value scale \(scale)") }
        let p = powersOf10Int128[scale]
        var values: [Int128] = []
        values.reserveCapacity(range.count)
        for i in 0..<range.upperBound {
            let q = unzigzag128(try r.varint128("value"))
            if i < range.lowerBound { continue }
            let (v, overflow) = q.multipliedReportingOverflow(by: p)
            guard !overflow else { throw Malformed("value overflows Int128") }
            values.append(v)
        }
        // Validate the rest of the column and that nothing follows it.
        for _ in range.upperBound..<n { _ = try r.varint128("value") }
        guard r.isAtEnd else { throw Malformed("\(r.remaining) trailing bytes") }

        // Materialise only the requested range.
        var stringCursor = 0, stringNumber = 0, uuidCursor = 0
        for i in 0..<range.upperBound {
            let kind = kinds.map { $0[i] } ?? mode
            let inRange = i >= range.lowerBound
            let id: String
            if kind == Format.idString {
                let l = stringLengths[stringNumber]
                id = inRange ? String(decoding: UnsafeRawBufferPointer(rebasing: stringBytes[stringCursor..<(stringCursor + l)]), as: UTF8.self) : ""
                stringCursor += l
                stringNumber += 1
            } else {
                id = inRange ? UUIDText.format(UnsafeRawBufferPointer(rebasing: uuids[uuidCursor..<(uuidCursor + 16)]), kind: kind) : ""
                uuidCursor += 16
            }
            guard inRange else { continue }
            let j = i - range.lowerBound
            out.append(LineageEvent(id: id, source: sourceNames[sourceCount > 1 ? Int(sourceIndex[i]) : 0],
                                    timeMicros: times[i], value: values[j], offset: offsets[i]))
        }
    }

    private static func int64Column(_ r: inout UnsafeByteReader, _ n: Int, _ what: String) throws(Malformed) -> [Int64] {
        let scale = Int(try r.byte("\(what) scale"))
        guard scale <= Format.maxInt64Scale else { throw Malformed("\(what) scale \(scale)") }
        let p = powersOf10Int64[scale]
        var v = unzigzag(try r.varint(what))
        let width = Int(try r.byte("\(what) width"))
        guard width <= 8 else { throw Malformed("\(what) width \(width)") }
        let planes = try r.slice(width * (n - 1), "\(what) planes")
        var column: [Int64] = []
        column.reserveCapacity(n)
        column.append(v)
        for i in 0..<(n - 1) {
            var z: UInt64 = 0
            for plane in 0..<width { z |= UInt64(planes[plane * (n - 1) + i]) << UInt64(8 * plane) }
            v = v &+ unzigzag(z) &* p
            column.append(v)
        }
        assert(column.count == n)
        return column
    }
}
