import Foundation
@testable import MeterlineLineage
import Testing

/// `DirectFileWriter` writes whole blocks past the page cache and the last partial block buffered: whatever the sizes of
/// the appends and of its buffer, the file must hold exactly the bytes appended: in the temporary directory and on
/// tmpfs (/dev/shm, when there is one; older kernels refuse `O_DIRECT` there), and with `O_DIRECT` not used at all.
@Suite struct DirectFileWriterTests {
    /// Directories to write in: the system temporary directory, and /dev/shm when it exists.
    static func directories() throws -> [TempDir] {
        var dirs = [try TempDir()]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue {
            let path = "/dev/shm/lineage-test-" + UUID().uuidString
            if (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil {
                dirs.append(TempDir(existing: path))
            }
        }
        return dirs
    }

    @Test func fileHoldsExactlyTheBytesAppended() throws {
        for dir in try Self.directories() {
            defer { dir.cleanup() }
            for seed in testSeeds(fixed: [1, 2, 3]) {
                var g = SeededGenerator(seed: seed)
                // Sizes around the block and buffer boundaries, and random ones.
                let totals = [0, 1, 4095, 4096, 4097, 8192, 3 * 8192 + 17] + (0..<4).map { _ in Int(g.next() % 200_000) }
                for (n, total) in totals.enumerated() {
                    let path = dir.file("out-\(seed)-\(n)")
                    let bufferBytes = [1, 4096, 8192, 12_000][Int(g.next() % 4)]
                    // Every other file buffered from the start, as where the filesystem refuses O_DIRECT.
                    let w = try DirectFileWriter(path: path, reportedAs: nil, bufferBytes: bufferBytes, allowDirect: n % 2 == 1)
                    if n % 2 == 0 { #expect(!w.direct, "a writer told not to use O_DIRECT is in O_DIRECT mode") }
                    var expected: [UInt8] = []
                    while expected.count < total {
                        if g.next() % 4 == 0 {
                            let b = UInt8(truncatingIfNeeded: g.next())
                            try w.append(byte: b)
                            expected.append(b)
                        } else {
                            let piece = (0..<min(total - expected.count, Int(g.next() % 10_000))).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                            try piece.withUnsafeBytes { try w.append($0) }
                            expected += piece
                        }
                    }
                    try w.finish(sync: n % 2 == 0)
                    let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                    #expect(written == expected, "seed \(seed), \(dir.path): \(total) bytes through a \(bufferBytes)-byte buffer, read back \(written.count)")
                }
            }
        }
    }

    @Test func abandonRemovesTheFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("abandoned")
        let w = try DirectFileWriter(path: path)
        try [UInt8](repeating: 7, count: 10_000).withUnsafeBytes { try w.append($0) }
        w.abandon()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aFileThatCannotBeCreatedIsAnErrorNamingIt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("missing/out")
        #expect {
            _ = try DirectFileWriter(path: path, reportedAs: "final/out")
        } throws: { error in
            guard let e = error as? LineageError else { return false }
            return e.file == "final/out" && e.code == .io && e.message.contains(path)
        }
    }
}
