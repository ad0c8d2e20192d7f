// The only place in Meterline that calls libzstd. Contexts are ~Copyable owners freed in deinit;
// C error codes are converted once, here, into `ZstdFailure` (callers attach the file name).
internal import CZstd

/// A libzstd error, converted at the boundary. Invariant: `message` is human-readable text.
struct ZstdFailure: Error {
    var message: String

    init(code: Int) {
        message = String(cString: ZSTD_getErrorName(code))
    }

    init(message: String) {
        self.message = message
    }
}

/// Owns one ZSTD_CCtx configured for deterministic single-threaded frames: fixed level, content
/// size in the header, no checksum (the file format checksums blocks itself), no dictionary id.
///
/// Invariant: `ctx` is non-nil and freed exactly once, in `deinit`.
struct ZstdCompressor: ~Copyable {
    private let ctx: OpaquePointer

    init(level: Int32) {
        guard let ctx = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx: out of memory") }
        self.ctx = ctx
        // Parameter failures here are programmer errors (zstd clamps levels itself).
        Self.set(ctx, ZSTD_c_compressionLevel, level)
        Self.set(ctx, ZSTD_c_checksumFlag, 0)
        Self.set(ctx, ZSTD_c_contentSizeFlag, 1)
        Self.set(ctx, ZSTD_c_dictIDFlag, 0)
        Self.set(ctx, ZSTD_c_nbWorkers, 0)
    }

    deinit { ZSTD_freeCCtx(ctx) }

    private static func set(_ ctx: OpaquePointer, _ p: ZSTD_cParameter, _ v: Int32) {
        let r = ZSTD_CCtx_setParameter(ctx, p, v)
        precondition(ZSTD_isError(r) == 0, "ZSTD_CCtx_setParameter(\(p.rawValue), \(v)): \(String(cString: ZSTD_getErrorName(r)))")
    }

    /// Compresses `source` as one zstd frame appended to `out`; returns the frame's length.
    func compress(_ source: ArraySlice<UInt8>, appendingTo out: inout [UInt8]) throws(ZstdFailure) -> Int {
        let bound = ZSTD_compressBound(source.count)
        precondition(ZSTD_isError(bound) == 0, "ZSTD_compressBound(\(source.count))")
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = source.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress2(ctx, dst.baseAddress! + start, bound, src.baseAddress, src.count)
            }
        }
        if ZSTD_isError(written) != 0 {
            out.removeLast(out.count - start)
            throw ZstdFailure(code: written)
        }
        assert(written > 0 && written <= bound)
        out.removeLast(bound - written)
        assert(out.count == start + written)
        return written
    }
}

/// Owns one ZSTD_DCtx. Invariant: `ctx` is non-nil and freed exactly once, in `deinit`.
struct ZstdDecompressor: ~Copyable {
    private let ctx: OpaquePointer

    init() {
        guard let ctx = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx: out of memory") }
        self.ctx = ctx
    }

    deinit { ZSTD_freeDCtx(ctx) }

    /// Decompresses one or more concatenated frames holding exactly `expectedSize` bytes in
    /// total; anything else (more, fewer, damaged frames) fails.
    func decompress(_ frame: UnsafeRawBufferPointer, expectedSize: Int) throws(ZstdFailure) -> [UInt8] {
        precondition(expectedSize > 0)
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        // ZSTD_CONTENTSIZE_UNKNOWN is (0ULL - 1), ZSTD_CONTENTSIZE_ERROR is (0ULL - 2).
        guard declared < UInt64.max - 1 else { throw ZstdFailure(message: "not a zstd frame with a content size") }
        guard declared <= UInt64(expectedSize) else {
            throw ZstdFailure(message: "frame declares \(declared) bytes, index says \(expectedSize)")
        }
        var failure = 0
        let out = [UInt8](unsafeUninitializedCapacity: expectedSize) { buf, initialized in
            let n = ZSTD_decompressDCtx(ctx, buf.baseAddress, expectedSize, frame.baseAddress, frame.count)
            if ZSTD_isError(n) != 0 {
                failure = n
                initialized = 0
                return
            }
            initialized = n
        }
        if failure != 0 { throw ZstdFailure(code: failure) }
        guard out.count == expectedSize else {
            throw ZstdFailure(message: "frame decompressed to \(out.count) bytes, expected \(expectedSize)")
        }
        return out
    }
}
