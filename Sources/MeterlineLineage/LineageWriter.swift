// Accumulates (key, event) pairs in columnar arrays and encodes them as one lineage file.

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
/// order; keys are distinct under Swift `String` equality. Encoding is a pure function of the
/// appends (in order), the compression level, the block target, the libzstd version and the
/// `write` arguments, so a retry of the same appends rewrites byte-identical files.
/// Appending never allocates per event beyond amortised growth of the column arrays.
public struct LineageWriter: Sendable {
    /// zstd level used for every frame (fixed per writer for determinism).
    public let compressionLevel: Int32
    /// A block is closed once it holds at least this many events; a key never spans blocks.
    public let blockTargetEvents: Int

    // Keys: Swift-equality index → dense key number. A key's events are not kept per key: each event records its
    // key number (`eventKeys`) and `encode` groups them (a stable counting sort keeps append order per key).
    private var keyNumbers: [String: Int32] = [:]
    private var keyNames: [String] = []
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

    // Event columns in append order.
    private var eventKeys: [UInt32] = []
    private var times: [Int64] = []
    private var offsets: [Int64] = []
    private var values: [Int128] = []
    private var sources: [UInt32] = []
    private var idKinds: [UInt8] = []
    /// End (exclusive) of each event's id bytes in `idBytes`: 16 bytes for UUID kinds, UTF-8 otherwise.
    private var idEnds: [Int] = []
    private var idBytes: [UInt8] = []

    public init(compressionLevel: Int32 = 3, blockTargetEvents: Int = 4096) {
        precondition(blockTargetEvents > 0, "blockTargetEvents must be positive")
        self.compressionLevel = compressionLevel
        self.blockTargetEvents = blockTargetEvents
    }

    public var eventCount: Int { times.count }
    public var isEmpty: Bool { times.isEmpty }
    /// Number of distinct keys appended so far (keys with at least one event).
    public var keyCount: Int { usedKeys }

    /// A key resolved once by `keyHandle(for:)`, for `append(_:event:)`: lets a caller that appends many events to the
    /// same key (a rollup window) hash the key string once instead of once per event.
    ///
    /// Invariant: valid only for the writer that made it, until that writer's next `reset()`.
    public struct KeyHandle: Hashable, Sendable {
        let number: Int32
        let generation: UInt32
    }

    /// The handle of `key` (registered if new; a key without events is not written). Same key, same handle.
    public mutating func keyHandle(for key: String) -> KeyHandle {
        if let found = keyNumbers[key] { return KeyHandle(number: found, generation: generation) }
        let k = Int32(keyNames.count)
        keyNumbers[key] = k
        keyNames.append(key)
        keyCounts.append(0)
        return KeyHandle(number: k, generation: generation)
    }

    /// Appends `event` to `key`. Same file as `append(keyHandle(for: key), event:)`.
    public mutating func append(key: String, event: LineageEvent) {
        append(keyHandle(for: key), event: event)
    }

    /// Appends `event` to the key of `handle` (from this writer's `keyHandle(for:)`, since its last `reset()`).
    public mutating func append(_ handle: KeyHandle, event: LineageEvent) {
        let e = times.count
        precondition(e < Int(UInt32.max), "a lineage file holds fewer than 2^32 events")
        precondition(handle.generation == generation && Int(handle.number) < keyCounts.count, "stale or foreign key handle")
        let k = Int(handle.number)
        if keyCounts[k] == 0 { usedKeys += 1 }
        keyCounts[k] &+= 1
        eventKeys.append(UInt32(k))

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
        let kind: UInt8 = id.withUTF8 { utf8 in
            if let uuid = UUIDText.parse(utf8) {
                // The 16 bytes in text order: both halves big-endian.
                withUnsafeBytes(of: (uuid.hi.bigEndian, uuid.lo.bigEndian)) { idBytes.append(contentsOf: $0) }
                return uuid.kind
            }
            idBytes.append(contentsOf: utf8)
            return Format.idString
        }

        times.append(event.timeMicros)
        offsets.append(event.offset)
        values.append(event.value)
        sources.append(s)
        idKinds.append(kind)
        idEnds.append(idBytes.count)
        assert(times.count == e + 1 && offsets.count == e + 1 && values.count == e + 1)
        assert(sources.count == e + 1 && idKinds.count == e + 1 && idEnds.count == e + 1 && eventKeys.count == e + 1)
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
        precondition(times.count < Int(UInt32.max), "a lineage file holds fewer than 2^32 events")
        precondition(handle.generation == generation && Int(handle.number) < keyCounts.count, "stale or foreign key handle")
        precondition(source.generation == generation && Int(source.number) < sourceNames.count, "stale or foreign source handle")
        let k = Int(handle.number)
        if keyCounts[k] == 0 { usedKeys += 1 }
        keyCounts[k] &+= 1
        eventKeys.append(UInt32(k))
        let kind: UInt8
        if let uuid = UUIDText.parse(id.assumingMemoryBound(to: UInt8.self)) {
            withUnsafeBytes(of: (uuid.hi.bigEndian, uuid.lo.bigEndian)) { idBytes.append(contentsOf: $0) }
            kind = uuid.kind
        } else {
            idBytes.append(contentsOf: id)
            kind = Format.idString
        }
        times.append(timeMicros)
        offsets.append(offset)
        values.append(value)
        sources.append(source.number)
        idKinds.append(kind)
        idEnds.append(idBytes.count)
    }

    /// Reserves room for `events` more appends (avoids regrowing the columns when the checkpoint size is known).
    public mutating func reserveCapacity(events: Int) {
        let n = times.count + events
        eventKeys.reserveCapacity(n)
        times.reserveCapacity(n)
        offsets.reserveCapacity(n)
        values.reserveCapacity(n)
        sources.reserveCapacity(n)
        idKinds.reserveCapacity(n)
        idEnds.reserveCapacity(n)
        idBytes.reserveCapacity(idBytes.count + 16 * events)
    }

    /// Forgets every append; keeps array capacity for the next checkpoint.
    public mutating func reset() {
        keyNumbers.removeAll(keepingCapacity: true)
        keyNames.removeAll(keepingCapacity: true)
        keyCounts.removeAll(keepingCapacity: true)
        usedKeys = 0
        generation &+= 1
        eventKeys.removeAll(keepingCapacity: true)
        sourceNumbers.removeAll(keepingCapacity: true)
        sourceNames.removeAll(keepingCapacity: true)
        lastSource = ""
        lastSourceNumber = .max
        times.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        sources.removeAll(keepingCapacity: true)
        idKinds.removeAll(keepingCapacity: true)
        idEnds.removeAll(keepingCapacity: true)
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
        let name = Self.fileName(source: source, firstOffset: firstOffset, lastOffset: lastOffset)
        let image = try encode(source: source, firstOffset: firstOffset, lastOffset: lastOffset, fileName: name)
        try FileIO.writeAtomically(image, directory: directory, name: name)
        return (name, image.count)
    }

    /// The complete file image `write` would store (for tests, in-memory use and tools).
    public func encode(source: String, firstOffset: Int64, lastOffset: Int64) throws -> [UInt8] {
        try encode(source: source, firstOffset: firstOffset, lastOffset: lastOffset,
                   fileName: Self.fileName(source: source, firstOffset: firstOffset, lastOffset: lastOffset))
    }

    private func encode(source: String, firstOffset: Int64, lastOffset: Int64, fileName: String) throws(LineageError) -> [UInt8] {
        // Keys (with events) in ascending UTF-8 byte order: the order of the footer index and of the blocks.
        let keyUTF8 = keyNames.map { Array($0.utf8) }
        let order = keyNames.indices.filter { keyCounts[$0] > 0 }.sorted { keyUTF8[$0].lexicographicallyPrecedes(keyUTF8[$1]) }
        // Events grouped by key in that order, append order within a key (stable counting sort), and Σ value per key.
        var keyStart = [Int](repeating: 0, count: keyNames.count)
        var next = 0
        for k in order { keyStart[k] = next; next += Int(keyCounts[k]) }
        assert(next == times.count)
        var grouped = [UInt32](repeating: 0, count: times.count)
        var keySums = [Int128](repeating: 0, count: keyNames.count)
        var fill = keyStart
        for e in 0..<eventKeys.count {
            let k = Int(eventKeys[e])
            grouped[fill[k]] = UInt32(e)
            fill[k] += 1
            keySums[k] = keySums[k] &+ values[e]
        }

        var out: [UInt8] = []
        out.reserveCapacity(Format.headerSize + times.count * 24 + 4096)
        out.append(contentsOf: Format.magic)
        out.appendUInt32LE(Format.version)
        out.appendUInt32LE(0)
        assert(out.count == Format.headerSize)

        let compressor = ZstdCompressor(level: compressionLevel)
        var encoder = BlockEncoder(sourceCount: sourceNames.count)
        var blocks: [BlockEntry] = []
        var keyEntries: [(key: Int, block: Int, first: Int)] = []
        keyEntries.reserveCapacity(order.count)

        var blockKeys: [Int] = []
        var cursor = 0
        while cursor < order.count {
            // Gather consecutive keys until the block reaches its target size.
            blockKeys.removeAll(keepingCapacity: true)
            encoder.events.removeAll(keepingCapacity: true)
            while cursor < order.count && encoder.events.count < blockTargetEvents {
                let k = order[cursor]
                keyEntries.append((key: k, block: blocks.count, first: encoder.events.count))
                encoder.events.append(contentsOf: grouped[keyStart[k]..<(keyStart[k] + Int(keyCounts[k]))])
                blockKeys.append(k)
                cursor += 1
            }
            assert(!blockKeys.isEmpty && !encoder.events.isEmpty)
            encoder.encode(times: times, offsets: offsets, values: values, sources: sources,
                           sourceNames: sourceNames, idKinds: idKinds, idEnds: idEnds, idBytes: idBytes)
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
            let checksum = fnv1a64(out[start...])
            blocks.append(BlockEntry(offset: start, compressedLength: compressed, uuidLength: encoder.uuidWords.count * 8,
                                     bodyLength: encoder.body.count, eventCount: encoder.events.count,
                                     keyCount: blockKeys.count, checksum: checksum))
        }
        assert(keyEntries.count == usedKeys)
        assert(blocks.reduce(0) { $0 + $1.eventCount } == times.count)

        // Footer body.
        var footer: [UInt8] = []
        footer.appendVarint(source.utf8.count)
        footer.appendBytes(source)
        footer.appendVarint(zigzag(firstOffset))
        footer.appendVarint(zigzag(lastOffset))
        footer.appendVarint(times.count)
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
        var previous: [UInt8] = []
        for entry in keyEntries {
            let bytes = keyUTF8[entry.key]
            var shared = 0
            while shared < previous.count && shared < bytes.count && previous[shared] == bytes[shared] { shared += 1 }
            footer.appendVarint(shared)
            footer.appendVarint(bytes.count - shared)
            footer.append(contentsOf: bytes[shared...])
            footer.appendVarint(entry.block)
            footer.appendVarint(entry.first)
            footer.appendVarint(Int(keyCounts[entry.key]))
            footer.appendVarint128(zigzag128(keySums[entry.key]))
            previous = bytes
        }

        let footerOffset = out.count
        let footerLength: Int
        do {
            footerLength = try compressor.compress(footer[...], appendingTo: &out)
        } catch {
            throw LineageError(file: fileName, message: "zstd compression of footer failed: \(error.message)", code: .compression)
        }
        let footerChecksum = fnv1a64(out[footerOffset...])

        // Trailer.
        out.appendUInt64LE(UInt64(footerOffset))
        out.appendUInt64LE(UInt64(footerLength))
        out.appendUInt64LE(UInt64(footer.count))
        out.appendUInt64LE(footerChecksum)
        out.appendUInt32LE(Format.version)
        out.appendUInt32LE(0)
        out.append(contentsOf: Format.magic)
        assert(out.count == footerOffset + footerLength + Format.trailerSize)
        return out
    }
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

/// Encodes one block's columns. Reuses its buffers across blocks (amortised allocation only).
///
/// Invariant: after `encode`, `body` is the uncompressed block body and `uuidWords` the raw UUID
/// section for exactly the events listed in `events`, in that order.
struct BlockEncoder {
    /// Global event numbers of the block, in stored order.
    var events: [UInt32] = []
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

    mutating func encode(times: [Int64], offsets: [Int64], values: [Int128], sources: [UInt32],
                         sourceNames: [String], idKinds: [UInt8], idEnds: [Int], idBytes: [UInt8]) {
        body.removeAll(keepingCapacity: true)
        uuidWords.removeAll(keepingCapacity: true)
        sections.removeAll(keepingCapacity: true)
        sections.append(0)
        let n = events.count
        precondition(n > 0)
        body.appendVarint(n)

        // Source dictionary in first-appearance order, then the index column when > 1 entry.
        blockSources.removeAll(keepingCapacity: true)
        for e in events {
            let s = Int(sources[Int(e)])
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
            for e in events { body.appendVarint(UInt64(localSource[Int(sources[Int(e)])])) }
        }
        for s in blockSources { localSource[Int(s)] = .max }

        // Ids: mode byte, optional kind column, string lengths, string bytes; UUIDs go raw.
        let firstKind = idKinds[Int(events[0])]
        var mixed = false
        for e in events where idKinds[Int(e)] != firstKind { mixed = true; break }
        body.append(mixed ? Format.idModeMixed : firstKind)
        if mixed {
            for e in events { body.append(idKinds[Int(e)]) }
        }
        for e in events where idKinds[Int(e)] == Format.idString {
            let i = Int(e)
            let start = i == 0 ? 0 : idEnds[i - 1]
            body.appendVarint(idEnds[i] - start)
        }
        idBytes.withUnsafeBufferPointer { all in
            for e in events {
                let i = Int(e)
                let start = i == 0 ? 0 : idEnds[i - 1]
                let bytes = UnsafeBufferPointer(rebasing: all[start..<idEnds[i]])
                if idKinds[i] == Format.idString {
                    body.append(contentsOf: bytes)
                } else {
                    assert(bytes.count == 16)
                    let raw = UnsafeRawPointer(bytes.baseAddress!)
                    uuidWords.append(raw.loadUnaligned(as: UInt64.self))
                    uuidWords.append(raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                }
            }
        }

        // Times and offsets: first value, then scaled deltas.
        scratch64.removeAll(keepingCapacity: true)
        for e in events { scratch64.append(times[Int(e)]) }
        appendInt64Column(scratch64)
        scratch64.removeAll(keepingCapacity: true)
        for e in events { scratch64.append(offsets[Int(e)]) }
        appendInt64Column(scratch64)

        // Values: common decimal scale, then zigzag varints of value / 10^scale.
        scratch128.removeAll(keepingCapacity: true)
        for e in events { scratch128.append(values[Int(e)]) }
        let scale = scratch128.withUnsafeBufferPointer { commonDecimalScale128($0) }
        sections.append(body.count)
        body.append(UInt8(scale))
        if scale <= Format.maxInt64Scale {
            let p64 = powersOf10Int64[scale]
            let p128 = Int128(p64)
            for v in scratch128 {
                if let small = Int64(exactly: v) {
                    body.appendVarint(zigzag(small / p64))
                } else {
                    body.appendVarint128(zigzag128(v / p128))
                }
            }
        } else {
            let p = powersOf10Int128[scale]
            for v in scratch128 { body.appendVarint128(zigzag128(v / p)) }
        }
    }

    /// Column layout: u8 scale k, zigzag varint of v[0], u8 width w, then w byte planes of the
    /// n−1 values zigzag((v[i] − v[i−1]) / 10^k) (wrapping subtraction), least significant plane
    /// first. Each plane starts a new section: planes of random low bytes and nearly constant
    /// high bytes get their own entropy tables.
    private mutating func appendInt64Column(_ column: [Int64]) {
        precondition(!column.isEmpty)
        var k = Format.maxInt64Scale
        var sawNonZero = false
        var previous = column[0]
        for v in column.dropFirst() {
            let d = v &- previous
            previous = v
            if d != 0 {
                sawNonZero = true
                while k > 0 && d % powersOf10Int64[k] != 0 { k -= 1 }
                if k == 0 { break }
            }
        }
        if !sawNonZero { k = 0 }
        sections.append(body.count)
        body.append(UInt8(k))
        body.appendVarint(zigzag(column[0]))
        let p = powersOf10Int64[k]
        deltas.removeAll(keepingCapacity: true)
        var all: UInt64 = 0
        previous = column[0]
        for v in column.dropFirst() {
            let d = v &- previous
            assert(d % p == 0)
            let z = zigzag(k == 0 ? d : d / p) // no division by 1 (the common case for times and offsets)
            all |= z
            deltas.append(z)
            previous = v
        }
        let width = (64 - all.leadingZeroBitCount + 7) / 8
        assert(width <= 8 && (width == 8 || all >> (8 * UInt64(width)) == 0))
        body.append(UInt8(width))
        for plane in 0..<width {
            sections.append(body.count)
            let shift = UInt64(8 * plane)
            for z in deltas { body.append(UInt8(truncatingIfNeeded: z >> shift)) }
        }
    }
}
