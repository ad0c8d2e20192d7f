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
public final class ChunkedFileReader {
    public let path: String
    public let fileSize: Int
    public private(set) var bytesRead = 0
    private let handle: FileHandle
    private var dctx: OpaquePointer?
    /// Raw bytes read from the file (reused for every read): `input[inputPos..<inputCount]` is not consumed yet.
    private let input: UnsafeMutableRawBufferPointer
    private var inputCount = 0
    private var inputPos = 0
    /// Decompressed bytes (reused): `nextChunk` returns a view of its first bytes.
    private let output: UnsafeMutableRawBufferPointer
    private var frameOpen = false
    private var finished = false
    /// A chunk produced by `estimatedLines` and not yet returned by `nextChunk`.
    private var pending: UnsafeRawBufferPointer? = nil
    private var chunksReturned = 0
    private static let chunk = 1 << 20

    public init(path: String) throws {
        self.path = path
        guard let h = FileHandle(forReadingAtPath: path) else { throw StreamError(file: path, message: "cannot open (missing or unreadable)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { throw StreamError(file: path, message: "is a directory") }
        handle = h
        fileSize = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue ?? 0
        input = .allocate(byteCount: ChunkedFileReader.chunk, alignment: 64)
        output = .allocate(byteCount: ZSTD_DStreamOutSize() * 4, alignment: 64)
        try readRaw()
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
        output.deallocate()
        try? handle.close()
    }

    /// Refills `input` with up to one chunk of the file (`read(2)` straight into the reused buffer: no `Data`,
    /// no array per chunk); `inputCount` 0 at the end of the file.
    private func readRaw() throws {
        inputCount = try readFile(into: input.baseAddress!, count: input.count)
        inputPos = 0
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

    /// Fills `destination` with the next plain bytes of the file, as many as fit (fewer only at the end of the
    /// file), and returns how many; 0 at the end. zstd decompresses straight into it and a plain file is read
    /// into it, so a caller that hands the bytes to other threads copies nothing. Same bytes, in the same
    /// order, as `nextChunk`; the two may be mixed.
    public func fill(_ destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let dst = destination.baseAddress, destination.count > 0 else { return 0 }
        var filled = 0
        if let p = pending {
            // The chunk `estimatedLines` decompressed: copied once.
            let n = min(p.count, destination.count)
            dst.copyMemory(from: p.baseAddress!, byteCount: n)
            filled = n
            pending = n == p.count ? nil : UnsafeRawBufferPointer(rebasing: p[n...])
            if pending == nil { chunksReturned += 1 }
        }
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
            return filled
        }
        while filled < destination.count, let n = try decompressStep(d, into: dst + filled, capacity: destination.count - filled) {
            filled += n
        }
        return filled
    }

    /// One `ZSTD_decompressStream` call into `dst` (refilling `input` first when it is used up); the bytes it
    /// produced (possibly 0), or nil at the end of the file — an error when the file ends inside a frame.
    private func decompressStep(_ d: OpaquePointer, into dst: UnsafeMutableRawPointer, capacity: Int) throws -> Int? {
        if finished { return nil }
        if inputPos == inputCount {
            try readRaw()
            if inputCount == 0 {
                finished = true
                if frameOpen { throw StreamError(file: path, message: "truncated zstd frame (the file ends inside a frame)") }
                return nil
            }
        }
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: inputCount, pos: inputPos)
        var outBuf = ZSTD_outBuffer(dst: dst, size: capacity, pos: 0)
        let result = ZSTD_decompressStream(d, &outBuf, &inBuf)
        inputPos = inBuf.pos
        if ZSTD_isError(result) != 0 {
            throw StreamError(file: path, message: "corrupt zstd data: \(String(cString: ZSTD_getErrorName(result)))")
        }
        frameOpen = result != 0
        return outBuf.pos
    }

    private func produceChunk() throws -> UnsafeRawBufferPointer? {
        if finished { return nil }
        guard let d = dctx else {
            if inputPos == inputCount { try readRaw() }
            if inputCount == 0 { finished = true; return nil }
            defer { inputPos = inputCount }
            return UnsafeRawBufferPointer(rebasing: input[inputPos..<inputCount])
        }
        while let n = try decompressStep(d, into: output.baseAddress!, capacity: output.count) {
            if n > 0 { return UnsafeRawBufferPointer(rebasing: output[0..<n]) }
        }
        return nil
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
