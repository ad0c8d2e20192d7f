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
    private var input: [UInt8] = []
    private var inputPos = 0
    private var frameOpen = false
    private var finished = false
    private let chunk = 1 << 20

    public init(path: String) throws {
        self.path = path
        guard let h = FileHandle(forReadingAtPath: path) else { throw StreamError(file: path, message: "cannot open (missing or unreadable)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { throw StreamError(file: path, message: "is a directory") }
        handle = h
        fileSize = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue ?? 0
        let head = try readRaw()
        input = head
        let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        if path.hasSuffix(".zst") || (head.count >= 4 && Array(head[0..<4]) == magic) {
            guard head.count >= 4, Array(head[0..<4]) == magic else { throw StreamError(file: path, message: "not a zstd file (bad magic)") }
            dctx = ZSTD_createDCtx()
        }
    }

    deinit {
        if let d = dctx { ZSTD_freeDCtx(d) }
        try? handle.close()
    }

    private func readRaw() throws -> [UInt8] {
        let data: Data
        do { data = try handle.read(upToCount: chunk) ?? Data() } catch { throw StreamError(file: path, message: "read failed: \(error)") }
        bytesRead += data.count
        return [UInt8](data)
    }

    /// The next chunk of plain bytes, or nil at the end of the file.
    public func next() throws -> [UInt8]? {
        if finished { return nil }
        guard let d = dctx else {
            if !input.isEmpty { defer { input = [] }; return input }
            let more = try readRaw()
            if more.isEmpty { finished = true; return nil }
            return more
        }
        var out = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize() * 4)
        while true {
            if inputPos == input.count {
                input = try readRaw()
                inputPos = 0
                if input.isEmpty {
                    finished = true
                    if frameOpen { throw StreamError(file: path, message: "truncated zstd frame (the file ends inside a frame)") }
                    return nil
                }
            }
            var produced = 0
            let result: Int = input.withUnsafeBytes { ib in
                out.withUnsafeMutableBytes { ob in
                    var inBuf = ZSTD_inBuffer(src: ib.baseAddress, size: ib.count, pos: inputPos)
                    var outBuf = ZSTD_outBuffer(dst: ob.baseAddress, size: ob.count, pos: 0)
                    let r = ZSTD_decompressStream(d, &outBuf, &inBuf)
                    inputPos = inBuf.pos
                    produced = outBuf.pos
                    return r
                }
            }
            if ZSTD_isError(result) != 0 {
                throw StreamError(file: path, message: "corrupt zstd data: \(String(cString: ZSTD_getErrorName(result)))")
            }
            frameOpen = result != 0
            if produced > 0 { out.removeSubrange(produced...); return out }
        }
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
