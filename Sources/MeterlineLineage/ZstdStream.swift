// Streaming zstd for input files (`backfill --input x.jsonl.zst`): MeterlineLineage owns all zstd access,
// so the decompressing reader lives here beside the lineage codec.
internal import CZstd
import Foundation

/// Why a streaming read failed; names the file.
public struct StreamError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

/// Reads a file in chunks, decompressing zstd frames on the fly when the name ends in `.zst`
/// (or the content starts with the zstd magic), never holding the whole file in memory.
/// Invariant: `bytesRead` counts compressed bytes consumed from disk (for progress); a file that ends
/// inside a frame is an error (`truncated zstd frame`), never silently short.
///
/// zstd is decoded with libzstd's buffer-less API, block by block, so that `fillInPlace` can decode straight into
/// the caller's buffer: the streaming API decodes into a buffer of its own and copies out, a second pass over every
/// byte (~0.5 CPU-s of 2.5 for the benchmark's 4.7 GB). A block may copy earlier output (up to the frame's window,
/// 2 MiB at the default levels), which zstd reads back where it wrote it: in the current *segment* (the
/// contiguous range decoded into since the last switch) or the one before. So a new segment starts only when the
/// current one holds a window of output (or the whole frame so far), and the segment before stays unchanged while
/// the new one is written: the reader's two own buffers take turns, and `fillInPlace` callers keep their previous
/// buffer (a caller's buffer is decoded into only when it has room for a window and a block).
public final class ChunkedFileReader {
    public let path: String
    public let fileSize: Int
    public private(set) var bytesRead = 0
    /// Plain bytes copied out of the reader's own buffers by `fill` (the rest were decoded or read in place).
    public private(set) var bytesCopied = 0
    private let handle: FileHandle
    private var dctx: OpaquePointer?
    /// Raw bytes read from the file (reused for every read): `input[inputPos..<inputCount]` is not consumed yet.
    private let input: UnsafeMutableRawBufferPointer
    private var inputCount = 0
    private var inputPos = 0
    private var endOfFile = false
    private var finished = false
    /// Plain bytes decoded (or, for a plain file, read) and not handed out yet: the next `nextChunk` or `fill` gives them first.
    private var pending: UnsafeRawBufferPointer? = nil
    private var chunksReturned = 0

    // zstd state: the frame being decoded and the segment decoded into.
    private var inFrame = false
    private var window = 0
    private var blockMax = 0
    /// Plain bytes of the current frame decoded so far.
    private var frameBytes = 0
    /// Where the current segment's next byte goes, the room left after it, and the bytes written to it.
    private var segmentNext: UnsafeMutableRawPointer? = nil
    private var segmentRoom = 0
    private var segmentBytes = 0
    /// Whether the current segment lies in one of the reader's own buffers (else in a `fillInPlace` destination).
    private var segmentIsOwn = false
    /// The last `fillInPlace` segment (to refuse a destination that overlaps it).
    private var callerSegment: UnsafeRawBufferPointer? = nil
    /// Set by the first `fillInPlace` of a zstd file: the other reads would leave its segment too early.
    private var readsInPlace = false
    /// The reader's own buffers (each room for a window and a block), used in turn; `own` is the current one, if any.
    private var ownBuffers: [UnsafeMutableRawBufferPointer] = []
    private var own = -1

    private static let chunk = 1 << 20
    /// The largest window accepted: libzstd's default decoder limit (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, 128 MiB).
    static let maxWindow = 1 << 27
    /// How many plain bytes `nextChunk` decodes at most before it returns.
    private static let chunkTarget = 512 << 10

    public init(path: String) throws {
        self.path = path
        guard let h = FileHandle(forReadingAtPath: path) else { throw StreamError(file: path, message: "cannot open (missing or unreadable)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { throw StreamError(file: path, message: "is a directory") }
        handle = h
        fileSize = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue ?? 0
        input = .allocate(byteCount: ChunkedFileReader.chunk, alignment: 64)
        _ = try ensureInput(4)
        let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        let head = Array(UnsafeRawBufferPointer(rebasing: input[0..<min(4, inputCount)]))
        if path.hasSuffix(".zst") || head == magic {
            guard head == magic else { throw StreamError(file: path, message: "not a zstd file (bad magic)") }
            dctx = ZSTD_createDCtx()
        }
    }

    deinit {
        if let d = dctx { ZSTD_freeDCtx(d) }
        input.deallocate()
        for b in ownBuffers { b.deallocate() }
        try? handle.close()
    }

    /// Makes at least `n` unconsumed bytes contiguous in `input` (moving the unconsumed rest to its front and reading
    /// more), fewer only at the end of the file. Returns whether `n` are there.
    private func ensureInput(_ n: Int) throws -> Bool {
        precondition(n <= input.count, "\(n) input bytes needed at once, more than the input buffer holds")
        while inputCount - inputPos < n && !endOfFile {
            if inputPos > 0 {
                let rest = inputCount - inputPos
                if rest > 0 { input.baseAddress!.copyMemory(from: input.baseAddress! + inputPos, byteCount: rest) }
                inputCount = rest
                inputPos = 0
            }
            let got = try readFile(into: input.baseAddress! + inputCount, count: input.count - inputCount)
            if got == 0 { endOfFile = true }
            inputCount += got
        }
        return inputCount - inputPos >= n
    }

    /// One read(2) of up to `count` bytes of the file into `p` (retried on EINTR), counted in `bytesRead`; 0 at the end.
    private func readFile(into p: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var n: Int
        repeat { n = read(handle.fileDescriptor, p, count) } while n < 0 && errno == EINTR
        guard n >= 0 else { throw StreamError(file: path, message: "read failed: \(String(cString: strerror(errno)))") }
        bytesRead += n
        return n
    }

    /// About how many lines the file holds, from its size and its first chunk (compression ratio and mean line
    /// length); 0 for an empty file, or when chunks were taken already. A sizing hint, never a count: the first
    /// `nextChunk` then returns the chunk this read.
    public func estimatedLines() throws -> Int {
        guard chunksReturned == 0 else { return 0 }
        if pending == nil { pending = try produceChunk() }
        guard let first = pending, !first.isEmpty else { return 0 }
        let lines = max(1, first.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) })
        let consumed = max(1, bytesRead - (inputCount - inputPos))  // compressed bytes behind `first`
        let plainBytes = dctx == nil ? Double(fileSize) : Double(fileSize) * Double(first.count) / Double(consumed)
        return Int(min(plainBytes / (Double(first.count) / Double(lines)), Double(Int.max / 2)))
    }

    /// The next chunk of plain bytes, or nil at the end of the file, as a view of a buffer this reader reuses:
    /// valid only until the next call (copy what must outlive it).
    public func nextChunk() throws -> UnsafeRawBufferPointer? {
        let chunk: UnsafeRawBufferPointer?
        if let p = pending { pending = nil; chunk = p } else { chunk = try produceChunk() }
        if chunk != nil { chunksReturned += 1 }
        return chunk
    }

    /// Fills `destination` with the next plain bytes of the file and returns how many; fewer only at the end of
    /// the file (0 there). Same bytes, in the same order, as `nextChunk`; the two may be mixed. A zstd file is decoded
    /// into the reader's own buffers and copied (`fillInPlace` decodes straight into the destination).
    public func fill(_ destination: UnsafeMutableRawBufferPointer) throws -> Int {
        precondition(!readsInPlace, "a reader read with fillInPlace goes on with fillInPlace")
        guard let dst = destination.baseAddress, destination.count > 0 else { return 0 }
        var filled = takePending(into: destination)
        guard let d = dctx else {
            // Plain file: the bytes left in `input` by the first read (the magic check), then read(2) straight
            // into the destination.
            while filled < destination.count && !finished {
                if inputPos < inputCount {
                    let n = min(inputCount - inputPos, destination.count - filled)
                    (dst + filled).copyMemory(from: input.baseAddress! + inputPos, byteCount: n)
                    inputPos += n
                    filled += n
                    continue
                }
                let n = try readFile(into: dst + filled, count: destination.count - filled)
                if n == 0 { finished = true }
                filled += n
            }
            if filled > 0 { chunksReturned += 1 }
            return filled
        }
        while filled < destination.count, try beginFrameIfNeeded(d) {
            filled += try decodeThroughOwnBuffer(d, into: UnsafeMutableRawBufferPointer(rebasing: destination[filled...]))
        }
        if filled > 0 { chunksReturned += 1 }
        return filled
    }

    /// The room a `fillInPlace` destination needs: a window and a block of the current zstd frame (2 MiB + 128 KiB
    /// at the default levels), read from the next frame's header when none is open; 0 for a plain file.
    public func directFillBytes() throws -> Int {
        guard let d = dctx else { return 0 }
        _ = try beginFrameIfNeeded(d)
        return window + blockMax
    }

    /// `fill`, decoding a zstd file straight into `destination` (a plain file is read into it as `fill` does).
    ///
    /// zstd then reads back into the previous call's destination (a block copies up to a window of earlier output),
    /// so the caller must
    /// - give a destination of at least `directFillBytes()` bytes that does not overlap the previous call's,
    /// - keep the previous call's destination unchanged until this call returns (two buffers used in turn do),
    /// - read the reader with `fillInPlace` only, once it has called it.
    ///
    /// A fill stops when less than a block's room is left, so it may return up to 128 KiB less than fits; 0 only
    /// at the end of the file. Bytes decoded before the first call (by `estimatedLines`, `nextChunk` or `fill`) are
    /// copied first, and so is the rest of their buffer's window when they leave less than a window of room.
    public func fillInPlace(_ destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let d = dctx else { return try fill(destination) }
        let need = try directFillBytes()
        precondition(destination.count >= need, "fillInPlace needs \(need) bytes of room, got \(destination.count)")
        precondition(!overlapsCallerSegment(UnsafeRawBufferPointer(destination)), "fillInPlace into the previous call's destination")
        readsInPlace = true
        var filled = takePending(into: destination)
        var direct = false
        while filled < destination.count, try beginFrameIfNeeded(d) {
            if !direct {
                // Straight into the destination once the current segment may be left and the rest holds a window.
                if canLeaveSegment && destination.count - filled >= window + blockMax {
                    startSegment(UnsafeMutableRawBufferPointer(rebasing: destination[filled...]), own: false)
                    direct = true
                } else {
                    precondition(segmentIsOwn || segmentNext == nil, "a fillInPlace segment left before it holds a window")
                    filled += try decodeThroughOwnBuffer(d, into: UnsafeMutableRawBufferPointer(rebasing: destination[filled...]))
                    continue
                }
            }
            guard segmentRoom >= blockMax else { break }
            filled += try step(d)
        }
        if direct { callerSegment = UnsafeRawBufferPointer(start: segmentNext! - segmentBytes, count: segmentBytes) }
        if filled > 0 { chunksReturned += 1 }
        return filled
    }

    /// One zstd step into the current own segment (a new one when it is full, or not own), its bytes copied to the
    /// start of `destination` as far as they fit (the rest left in `pending`); returns the bytes copied.
    private func decodeThroughOwnBuffer(_ d: OpaquePointer, into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        if !segmentIsOwn || segmentRoom < blockMax { switchOwnBuffer() }
        let start = segmentNext!
        let n = try step(d)
        pending = UnsafeRawBufferPointer(start: start, count: n)
        return takePending(into: destination)
    }

    /// Copies as much of `pending` as fits to the start of `destination`; returns how many bytes.
    private func takePending(into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard let p = pending, !p.isEmpty, destination.count > 0 else {
            if pending?.isEmpty == true { pending = nil }
            return 0
        }
        let n = min(p.count, destination.count)
        destination.baseAddress!.copyMemory(from: p.baseAddress!, byteCount: n)
        bytesCopied += n
        pending = n == p.count ? nil : UnsafeRawBufferPointer(rebasing: p[n...])
        return n
    }

    /// Whether a new segment may start: the current one holds a window of output, or all of the frame so far.
    private var canLeaveSegment: Bool { segmentBytes >= min(window, frameBytes) }

    private func overlapsCallerSegment(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let s = callerSegment, let sb = s.baseAddress, let bb = b.baseAddress else { return false }
        return bb < sb + s.count && sb < bb + b.count
    }

    private func startSegment(_ b: UnsafeMutableRawBufferPointer, own: Bool) {
        precondition(canLeaveSegment, "a zstd segment left before it holds a window")
        segmentNext = b.baseAddress
        segmentRoom = b.count
        segmentBytes = 0
        segmentIsOwn = own
        if own { callerSegment = nil }
    }

    /// Starts a segment at the start of the other own buffer (allocated at the frame's size when missing or too small).
    private func switchOwnBuffer() {
        precondition(!readsInPlace || segmentIsOwn || segmentNext == nil, "a reader read with fillInPlace goes on with fillInPlace")
        let next = own < 0 ? 0 : 1 - own
        let need = window + blockMax
        while ownBuffers.count <= next { ownBuffers.append(.allocate(byteCount: need, alignment: 64)) }
        if ownBuffers[next].count < need {
            ownBuffers[next].deallocate()
            ownBuffers[next] = .allocate(byteCount: need, alignment: 64)
        }
        self.own = next
        startSegment(ownBuffers[next], own: true)
    }

    /// Starts the next frame when none is open: reads its header, checks its window, skips a skippable frame
    /// whole. Returns false at the end of the file (between frames).
    private func beginFrameIfNeeded(_ d: OpaquePointer) throws -> Bool {
        while !inFrame {
            if finished { return false }
            guard try ensureInput(1) else { finished = true; return false }
            _ = try ensureInput(Int(ZSTD_FRAMEHEADERSIZE_MAX))
            var h = ZSTD_frameHeader()
            let r = ZSTD_getFrameHeader(&h, input.baseAddress! + inputPos, inputCount - inputPos)
            if ZSTD_isError(r) != 0 { throw corrupt(r) }
            if r > 0 { throw StreamError(file: path, message: "truncated zstd frame (the file ends inside a frame)") }
            if h.frameType == ZSTD_skippableFrame {
                // The header is the magic and the size (libzstd leaves `headerSize` 0 for a skippable frame).
                try skip(Int(ZSTD_SKIPPABLEHEADERSIZE) + Int(h.frameContentSize))
                continue
            }
            guard h.windowSize <= UInt64(ChunkedFileReader.maxWindow) else {
                throw StreamError(file: path, message: "zstd frame needs a \(h.windowSize >> 20) MiB window, more than the \(ChunkedFileReader.maxWindow >> 20) MiB accepted")
            }
            let r2 = ZSTD_decompressBegin(d)
            if ZSTD_isError(r2) != 0 { throw corrupt(r2) }
            window = Int(h.windowSize)
            blockMax = Int(h.blockSizeMax)
            frameBytes = 0
            inFrame = true
        }
        return true
    }

    /// Consumes `n` bytes of input unread (a skippable frame).
    private func skip(_ n: Int) throws {
        var left = n
        while left > 0 {
            guard try ensureInput(1) else { throw StreamError(file: path, message: "truncated zstd frame (the file ends inside a skippable frame)") }
            let k = min(left, inputCount - inputPos)
            inputPos += k
            left -= k
        }
    }

    /// One `ZSTD_decompressContinue` call (a frame header, a block header, a block or a checksum) into the current
    /// segment, which has a block's room; returns the plain bytes it wrote there.
    private func step(_ d: OpaquePointer) throws -> Int {
        let need = ZSTD_nextSrcSizeToDecompress(d)
        guard try ensureInput(need) else {
            throw StreamError(file: path, message: "truncated zstd frame (the file ends inside a frame)")
        }
        let n = ZSTD_decompressContinue(d, segmentNext, segmentRoom, input.baseAddress! + inputPos, need)
        if ZSTD_isError(n) != 0 { throw corrupt(n) }
        inputPos += need
        segmentNext! += n
        segmentRoom -= n
        segmentBytes += n
        frameBytes += n
        if ZSTD_nextSrcSizeToDecompress(d) == 0 { inFrame = false }
        return n
    }

    private func corrupt(_ code: Int) -> StreamError {
        StreamError(file: path, message: "corrupt zstd data: \(String(cString: ZSTD_getErrorName(code)))")
    }

    /// The next plain bytes, decoded into the reader's own buffers (a zstd file) or read into `input` (a plain
    /// file); nil at the end of the file.
    private func produceChunk() throws -> UnsafeRawBufferPointer? {
        guard let d = dctx else {
            if finished { return nil }
            if inputPos == inputCount { _ = try ensureInput(1) }
            if inputCount == inputPos { finished = true; return nil }
            defer { inputPos = inputCount }
            return UnsafeRawBufferPointer(rebasing: input[inputPos..<inputCount])
        }
        var start: UnsafeMutableRawPointer? = nil
        var count = 0
        while count < ChunkedFileReader.chunkTarget, try beginFrameIfNeeded(d) {
            if !segmentIsOwn || segmentRoom < blockMax {
                // The bytes taken so far must stay contiguous: a new buffer waits for the next call.
                if count > 0 { break }
                switchOwnBuffer()
            }
            if start == nil { start = segmentNext }
            count += try step(d)
        }
        guard let s = start, count > 0 else { return nil }
        return UnsafeRawBufferPointer(start: s, count: count)
    }
}

/// Writes a file, zstd-compressing it on the fly when the name ends in `.zst`; plain otherwise.
/// Invariant: the file is complete only after `close()` (the last frame is ended there).
public final class ChunkedFileWriter {
    public let path: String
    private let handle: FileHandle
    private var cctx: OpaquePointer?
    private var pending: [UInt8] = []
    private var closed = false

    public init(path: String, level: Int32 = 3) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw StreamError(file: path, message: "cannot create")
        }
        handle = h
        if path.hasSuffix(".zst") {
            cctx = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        }
        pending.reserveCapacity(1 << 20)
    }

    deinit {
        if let c = cctx { ZSTD_freeCCtx(c) }
    }

    public func write(_ bytes: [UInt8]) throws {
        pending.append(contentsOf: bytes)
        if pending.count >= 1 << 20 { try flush(end: false) }
    }

    private func flush(end: Bool) throws {
        guard let c = cctx else {
            handle.write(Data(pending))
            pending.removeAll(keepingCapacity: true)
            return
        }
        var out = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        try pending.withUnsafeBytes { ib in
            var inBuf = ZSTD_inBuffer(src: ib.baseAddress, size: ib.count, pos: 0)
            while true {
                var remaining = 0
                let produced: Int = try out.withUnsafeMutableBytes { ob in
                    var outBuf = ZSTD_outBuffer(dst: ob.baseAddress, size: ob.count, pos: 0)
                    let r = ZSTD_compressStream2(c, &outBuf, &inBuf, end ? ZSTD_e_end : ZSTD_e_continue)
                    if ZSTD_isError(r) != 0 { throw StreamError(file: path, message: "zstd: \(String(cString: ZSTD_getErrorName(r)))") }
                    remaining = r
                    return outBuf.pos
                }
                if produced > 0 { handle.write(Data(out[0..<produced])) }
                if end ? remaining == 0 : inBuf.pos == inBuf.size { break }
            }
        }
        pending.removeAll(keepingCapacity: true)
    }

    public func close() throws {
        guard !closed else { return }
        closed = true
        try flush(end: true)
        try handle.synchronize()
        try handle.close()
    }
}
