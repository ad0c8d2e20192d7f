import Foundation
import MeterlineLineage
import Testing

/// `ChunkedFileReader.estimatedLines` is a sizing hint taken before reading: it must be near the real count for
/// plain and zstd files, and must not change a byte of what the reader then returns.
@Suite struct ChunkedFileReaderTests {
    static func write(_ path: String, lines: Int, seed: UInt64) throws -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var all: [UInt8] = []
        let w = try ChunkedFileWriter(path: path)
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
        #expect(try ChunkedFileReaderTests.readAll(r) == written, "seed \(seed)")
        #expect(try r.estimatedLines() == 0, "no hint once chunks were taken")
        #expect(try ChunkedFileReaderTests.readAll(try ChunkedFileReader(path: path)) == written, "seed \(seed)")
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
                var out: [UInt8] = []
                if mode == 1 { _ = try r.estimatedLines() }
                if mode == 2, let c = try r.nextChunk() { out += c }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
                defer { buffer.deallocate() }
                while true {
                    let n = try r.fill(buffer)
                    if n == 0 { break }
                    out += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    if size >= 4_096 && n < size { #expect(try r.fill(buffer) == 0, "a short fill before the end of the file") }
                }
                #expect(out == written, "seed \(seed), destination \(size) bytes, mode \(mode): \(out.count) of \(written.count) bytes")
            }
        }
    }

    /// A zstd file cut inside a frame is an error from `fill` too, never a short read that looks complete.
    @Test func fillReportsATruncatedFrame() throws {
        let dir = try ChunkedFileReaderTests.emptyDirectory("meterline-fill-cut-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cut.jsonl.zst"
        _ = try ChunkedFileReaderTests.write(path, lines: 20_000, seed: 5)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 100).write(to: URL(fileURLWithPath: path))
        let r = try ChunkedFileReader(path: path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
        defer { buffer.deallocate() }
        var message = ""
        do {
            while try r.fill(buffer) > 0 {}
        } catch {
            message = "\(error)"
        }
        #expect(message.contains("truncated zstd frame"), "got \"\(message)\"")
    }
}
