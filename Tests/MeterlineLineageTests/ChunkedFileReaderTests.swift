import Foundation
import MeterlineLineage
import Testing

/// `ChunkedFileReader.estimatedLines` is a sizing hint taken before reading: it must be near the real count for
/// plain and zstd files, and must not change a byte of what the reader then returns.
@Suite struct ChunkedFileReaderTests {
    static func write(_ path: String, lines: Int, seed: UInt64, level: Int32 = 3) throws -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var all: [UInt8] = []
        let w = try ChunkedFileWriter(path: path, level: level)
        for i in 0..<lines {
            let line = Array(#"{"id":"e-\#(i)","subject":"c-\#(g.next() % 1000)","v":\#(g.next() % 100000)}"#.utf8) + [0x0A]
            all += line
            try w.write(line)
        }
        try w.close()
        return all
    }

    /// A fresh, empty directory under the temporary directory (the caller removes it).
    static func emptyDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func readAll(_ r: ChunkedFileReader) throws -> [UInt8] {
        var out: [UInt8] = []
        while let c = try r.nextChunk() { out += c }
        return out
    }

    @Test(arguments: ["plain.jsonl", "packed.jsonl.zst"])
    func estimateIsNearAndReadingIsUnchanged(name: String) throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-reader-\(getpid())-\(name)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + name
        let seed: UInt64 = 3
        let written = try ChunkedFileReaderTests.write(path, lines: 200_000, seed: seed)

        let r = try ChunkedFileReader(path: path)
        let estimate = try r.estimatedLines()
        #expect(estimate > 140_000 && estimate < 260_000, "seed \(seed): estimate \(estimate) for 200,000 lines")
        #expect(try r.estimatedLines() == estimate, "asking twice reads nothing more")
        let read = ChunkedFileReaderTests.firstDifference(try ChunkedFileReaderTests.readAll(r), written)
        #expect(read == nil, "seed \(seed): \(read ?? "")")
        #expect(try r.estimatedLines() == 0, "no hint once chunks were taken")
        let again = ChunkedFileReaderTests.firstDifference(try ChunkedFileReaderTests.readAll(try ChunkedFileReader(path: path)), written)
        #expect(again == nil, "seed \(seed): \(again ?? "")")
    }

    /// `fill` gives the bytes `nextChunk` gives, for destinations of any size (1 byte up to more than a chunk),
    /// after `estimatedLines` (whose chunk it must hand over first) or not, and after a first `nextChunk`.
    @Test(arguments: ["plain.jsonl", "packed.jsonl.zst"])
    func fillReadsTheSameBytesAsNextChunk(name: String) throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-fill-\(getpid())-\(name)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + name
        let seed: UInt64 = 11
        let written = try ChunkedFileReaderTests.write(path, lines: 60_000, seed: seed)
        for size in [1, 7, 4_096, 300_000, 3 << 20] {
            for mode in 0..<3 {
                let r = try ChunkedFileReader(path: path)
                var out = try ChunkedFileReaderTests.begin(r, mode: mode)
                out += try ChunkedFileReaderTests.readFilling(r, size: size)
                let difference = ChunkedFileReaderTests.firstDifference(out, written)
                #expect(difference == nil, "seed \(seed), destination \(size) bytes, mode \(mode): \(difference ?? "")")
            }
        }
    }

    /// A zstd file cut inside a frame is an error from `fill` and from `fillInPlace`, never a short read that looks
    /// complete (the file spans several windows, so `fillInPlace` has left its first buffer when it meets the cut).
    @Test(arguments: [false, true])
    func aTruncatedFrameIsAnError(inPlace: Bool) throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-fill-cut-\(getpid())-\(inPlace)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cut.jsonl.zst"
        _ = try ChunkedFileReaderTests.write(path, lines: 200_000, seed: 29)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 100).write(to: URL(fileURLWithPath: path))
        let r = try ChunkedFileReader(path: path)
        var message = ""
        do {
            _ = try inPlace ? ChunkedFileReaderTests.readInPlace(r, extra: 0) : ChunkedFileReaderTests.readFilling(r, size: 65_536)
        } catch {
            message = "\(error)"
        }
        #expect(message.contains("truncated zstd frame"), "got \"\(message)\"")
    }

    /// Reads `r` to its end with `fill` into one buffer of `size` bytes, reused; a fill short of the buffer comes only
    /// at the end of the file (checked for buffers of 4 KiB or more).
    static func readFilling(_ r: ChunkedFileReader, size: Int) throws -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var out: [UInt8] = []
        while true {
            let n = try r.fill(buffer)
            if n == 0 { break }
            out += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            if size >= 4_096 && n < size { #expect(try r.fill(buffer) == 0, "a short fill before the end of the file") }
        }
        return out
    }

    /// What a read takes before its fills, by `mode`: nothing (0), the `estimatedLines` hint, which decodes a chunk
    /// the fills must hand over first (1), or a first `nextChunk` (2); returns the bytes it took.
    static func begin(_ r: ChunkedFileReader, mode: Int) throws -> [UInt8] {
        if mode == 1 { _ = try r.estimatedLines() }
        if mode == 2, let c = try r.nextChunk() { return Array(c) }
        return []
    }

    /// Where `a` and `b` first differ, for a failure message (an `#expect` on two arrays of megabytes would spend
    /// minutes printing their difference); nil when they are equal.
    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String? {
        if a == b { return nil }
        let i = a.indices.first { $0 >= b.count || a[$0] != b[$0] } ?? a.count
        return "\(a.count) against \(b.count) bytes, first difference at byte \(i)"
    }

    /// Reads `r` with `fillInPlace` into two buffers used in turn, as the backfill does (each at least
    /// `directFillBytes()` plus `extra` bytes; a buffer too small for a later frame is replaced, never the one
    /// filled last, which zstd reads back into).
    static func readInPlace(_ r: ChunkedFileReader, extra: Int) throws -> [UInt8] {
        var buffers: [UnsafeMutableRawBufferPointer] = []
        defer { for b in buffers { b.deallocate() } }
        var out: [UInt8] = []
        var turn = 0
        while true {
            let need = try r.directFillBytes() + extra
            if buffers.count <= turn { buffers.append(.allocate(byteCount: need, alignment: 64)) }
            if buffers[turn].count < need {
                buffers[turn].deallocate()
                buffers[turn] = .allocate(byteCount: need, alignment: 64)
            }
            let n = try r.fillInPlace(buffers[turn])
            if n == 0 { break }
            out += UnsafeRawBufferPointer(rebasing: buffers[turn][0..<n])
            turn = 1 - turn
        }
        return out
    }

    /// `fillInPlace` gives the bytes `nextChunk` gives, after `estimatedLines` or a first `nextChunk` or neither, and
    /// decodes (nearly) everything straight into the caller's buffers: blocks that copy from the previous buffer
    /// (the window spans it) come out right.
    @Test func fillInPlaceReadsTheSameBytesWithoutCopying() throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-inplace-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/events.jsonl.zst"
        let seed: UInt64 = 17
        let written = try ChunkedFileReaderTests.write(path, lines: 250_000, seed: seed)
        #expect(written.count > 8 << 20, "the file spans several windows")
        for extra in [0, 1 << 20] {
            for mode in 0..<3 {
                let r = try ChunkedFileReader(path: path)
                var out = try ChunkedFileReaderTests.begin(r, mode: mode)
                out += try ChunkedFileReaderTests.readInPlace(r, extra: extra)
                let difference = ChunkedFileReaderTests.firstDifference(out, written)
                #expect(difference == nil, "seed \(seed), extra \(extra), mode \(mode): \(difference ?? "")")
                #expect(r.bytesCopied <= 3 << 20, "extra \(extra), mode \(mode): \(r.bytesCopied) bytes copied")
            }
        }
    }

    /// Concatenated frames with different windows and a skippable frame between them read the same through
    /// `fillInPlace`, `fill` and `nextChunk`; the room `fillInPlace` needs follows each frame's window.
    @Test func framesWithDifferentWindowsAndASkippableFrame() throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-frames-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seed: UInt64 = 23
        let first = try ChunkedFileReaderTests.write(dir + "/a.jsonl.zst", lines: 120_000, seed: seed)
        let second = try ChunkedFileReaderTests.write(dir + "/b.jsonl.zst", lines: 150_000, seed: seed + 1, level: 12)
        let skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.jsonl.zst")))
        bytes += skippable
        bytes += Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.jsonl.zst")))
        let path = dir + "/both.jsonl.zst"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let written = first + second

        let r = try ChunkedFileReader(path: path)
        let firstRoom = try r.directFillBytes()
        let inPlace = ChunkedFileReaderTests.firstDifference(try ChunkedFileReaderTests.readInPlace(r, extra: 0), written)
        #expect(inPlace == nil, "seed \(seed): fillInPlace: \(inPlace ?? "")")
        #expect(try r.directFillBytes() > firstRoom, "level 12's window is larger than level 3's: \(firstRoom)")
        let chunks = ChunkedFileReaderTests.firstDifference(try ChunkedFileReaderTests.readAll(try ChunkedFileReader(path: path)), written)
        #expect(chunks == nil, "seed \(seed): nextChunk: \(chunks ?? "")")
        let filled = ChunkedFileReaderTests.firstDifference(try ChunkedFileReaderTests.readFilling(try ChunkedFileReader(path: path), size: 100_003), written)
        #expect(filled == nil, "seed \(seed): fill: \(filled ?? "")")
    }

    /// A frame's window is read from its header: up to libzstd's default limit (128 MiB) it decodes, above it the
    /// reader refuses with a message naming the size, as the streaming decoder did (frames built by hand: one raw
    /// block of 5 bytes under a window descriptor).
    @Test func windowsAboveTheDefaultLimitAreRefused() throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-window-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Window descriptor: exponent e in the high 5 bits, window 2^(10+e) (mantissa 0).
        func frame(windowExponent e: UInt8) -> [UInt8] {
            [0x28, 0xB5, 0x2F, 0xFD, 0x00, e << 3, 0x29, 0x00, 0x00] + Array("hello".utf8)
        }
        let fits = dir + "/fits.jsonl.zst", tooLarge = dir + "/large.jsonl.zst"
        try Data(frame(windowExponent: 17)).write(to: URL(fileURLWithPath: fits))       // 128 MiB
        try Data(frame(windowExponent: 18)).write(to: URL(fileURLWithPath: tooLarge))   // 256 MiB
        #expect(try ChunkedFileReaderTests.readAll(try ChunkedFileReader(path: fits)) == Array("hello".utf8))
        var message = ""
        do { _ = try ChunkedFileReaderTests.readAll(try ChunkedFileReader(path: tooLarge)) } catch { message = "\(error)" }
        #expect(message.contains("256 MiB window"), "got \"\(message)\"")
    }
}
