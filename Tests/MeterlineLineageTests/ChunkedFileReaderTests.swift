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

    static func readAll(_ r: ChunkedFileReader) throws -> [UInt8] {
        var out: [UInt8] = []
        while let c = try r.nextChunk() { out += c }
        return out
    }

    @Test(arguments: ["plain.jsonl", "packed.jsonl.zst"])
    func estimateIsNearAndReadingIsUnchanged(name: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-reader-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
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
}
