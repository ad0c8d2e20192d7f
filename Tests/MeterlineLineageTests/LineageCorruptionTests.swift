import Foundation
import MeterlineLineage
import Testing

/// Damaged or foreign files must produce a LineageError naming the file, never a trap.
@Suite struct LineageCorruptionTests {
    /// Opens and fully reads `path`; returns the error, or nil if everything decoded.
    private func readFully(_ path: String) -> LineageError? {
        do {
            let file = try LineageFile(path: path)
            _ = try file.allOffsets()
            for k in file.keys { _ = try file.events(forKey: k) }
            _ = try file.allEvents()
            return nil
        } catch let error as LineageError {
            return error
        } catch {
            Issue.record("non-lineage error \(error)")
            return nil
        }
    }

    private func sampleFile(_ dir: TempDir, events: Int = 300, keys: Int = 12) throws -> (path: String, bytes: [UInt8]) {
        let (writer, _) = realisticWriter(events: events, keys: keys, seed: 5, blockTarget: 64)
        let (name, _) = try writer.write(directory: dir.path, source: "usage-9", firstOffset: 0, lastOffset: 299)
        return (dir.file(name), try readBytes(dir.file(name)))
    }

    @Test func missingFile() {
        let error = readFully("/nonexistent/dir/usage-1.mlz")
        #expect(error?.code == .notFound)
        #expect(error?.file == "/nonexistent/dir/usage-1.mlz")
        #expect(error?.description.hasPrefix("lineage file /nonexistent/dir/usage-1.mlz: ") == true)
    }

    @Test func directoryIsNotALineageFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let error = readFully(dir.path)
        #expect(error != nil)
        #expect(error?.file == dir.path)
    }

    @Test func notLineageAtAll() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let cases: [(String, [UInt8])] = [
            ("empty.mlz", []),
            ("text.mlz", Array("hello, this is a CSV file,1,2,3\n".utf8)),
            ("json.mlz", Array(String(repeating: "{\"id\":1}\n", count: 200).utf8)),
            ("random.mlz", { var g = SeededGenerator(seed: 3); return (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &g) } }()),
            ("magiconly.mlz", Array("MLINEAGE".utf8)),
        ]
        for (name, bytes) in cases {
            try writeBytes(bytes, dir.file(name))
            let error = readFully(dir.file(name))
            #expect(error != nil, "\(name)")
            #expect(error?.file == dir.file(name), "\(name)")
            #expect(error?.description.contains(dir.file(name)) == true, "\(name)")
        }
    }

    @Test func truncatedFiles() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, bytes) = try sampleFile(dir)
        var lengths = Set([0, 1, 8, 15, 16, 17, 47, 48, 63, 64, bytes.count / 2, bytes.count - 49, bytes.count - 48, bytes.count - 8, bytes.count - 1])
        lengths = lengths.filter { $0 >= 0 && $0 < bytes.count }
        for n in lengths.sorted() {
            let path = dir.file("cut-\(n).mlz")
            try writeBytes(Array(bytes.prefix(n)), path)
            let error = readFully(path)
            #expect(error != nil, "truncated to \(n) of \(bytes.count)")
            #expect(error?.file == path)
        }
    }

    @Test func flippedByteInBlock() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (path, bytes) = try sampleFile(dir)
        var damaged = bytes
        damaged[20] ^= 0x40  // inside block 0 (blocks start right after the 16-byte header)
        try writeBytes(damaged, path)
        let file = try LineageFile(path: path)  // the footer is intact: opening succeeds
        #expect(throws: LineageError.self) { try file.events(forKey: file.keys[0]) }
        do {
            _ = try file.allEvents()
            Issue.record("allEvents read a damaged block")
        } catch let error as LineageError {
            #expect(error.code == .checksumMismatch)
            #expect(error.file == path)
            #expect(error.description.contains("block 0"))
        }
        // Keys in other blocks still read.
        #expect(try file.events(forKey: file.keys.last!).count == file.summary(forKey: file.keys.last!)?.events)
    }

    @Test func flippedByteInFooter() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (path, bytes) = try sampleFile(dir)
        var damaged = bytes
        damaged[bytes.count - 48 - 5] ^= 0x01  // last bytes of the footer frame
        try writeBytes(damaged, path)
        #expect {
            try LineageFile(path: path)
        } throws: { error in
            guard let e = error as? LineageError else { return false }
            return e.code == .checksumMismatch && e.file == path
        }
    }

    /// Exhaustive: every single-byte flip anywhere in a small file is detected.
    @Test func everySingleByteFlipIsDetected() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (_, bytes) = try sampleFile(dir, events: 40, keys: 5)
        let path = dir.file("flip.mlz")
        for i in bytes.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = bytes
                damaged[i] ^= mask
                try writeBytes(damaged, path)
                let error = readFully(path)
                #expect(error != nil, "flip of byte \(i) mask \(mask) of \(bytes.count) went unnoticed")
                #expect(error == nil || error?.file == path)
            }
        }
    }
}
