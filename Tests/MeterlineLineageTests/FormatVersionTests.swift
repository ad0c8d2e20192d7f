import Foundation
@testable import MeterlineLineage
import Testing

/// Format version 2 changed only the block and footer checksum (FNV-1a 64 → XXH64); version 1 files still read.
@Suite struct FormatVersionTests {
    /// XXH64 (seed 0) against values computed by the `xxhash` package from PyPI (the xxHash project's C
    /// implementation), across the paths of the algorithm: empty, tail bytes only, a 4-byte tail, one word,
    /// just under, at and over one 32-byte stripe, and many stripes.
    @Test func xxh64MatchesTheReferenceImplementation() {
        let cases: [([UInt8], UInt64)] = [
            ([], 0xEF46_DB37_51D8_E999),
            (Array("a".utf8), 0xD24E_C4F1_A98C_6E5B),
            (Array("abc".utf8), 0x44BC_2CF5_AD77_0999),
            (Array("MLINEAGE".utf8), 0xDEBC_BD48_AB1D_1ED5),
            ((0..<31).map { UInt8($0) }, 0xC346_D2B5_9B4D_8EE1),
            ((0..<32).map { UInt8($0) }, 0xCBF5_9C51_16FF_32B4),
            ((0..<33).map { UInt8($0) }, 0x0C53_5D1A_CAFB_8EAD),
            ((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }, 0x5F23_5FA0_33F1_A3FB),
        ]
        for (bytes, expected) in cases {
            #expect(bytes.withUnsafeBytes { xxh64($0) } == expected, "\(bytes.count) bytes")
        }
    }

    /// The same events written as version 1 and as version 2 read back identically, and each file says its version;
    /// the two files differ only in the version fields and the checksums.
    @Test func versionOneFilesStillRead() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (writer, _) = realisticWriter(events: 500, keys: 9, seed: 17, blockTarget: 64)
        let d1 = dir.file("v1"), d2 = dir.file("v2")
        for d in [d1, d2] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let (name1, _) = try writer.write(directory: d1, source: "usage-1", firstOffset: 0, lastOffset: 499, formatVersion: 1)
        let (name2, _) = try writer.write(directory: d2, source: "usage-1", firstOffset: 0, lastOffset: 499)
        let f1 = try LineageFile(path: d1 + "/" + name1), f2 = try LineageFile(path: d2 + "/" + name2)
        #expect(f1.formatVersion == 1 && f2.formatVersion == 2)
        #expect(f1.keys == f2.keys && f1.blockCount == f2.blockCount && f1.blockCount > 1)
        let all1 = try f1.allEvents(), all2 = try f2.allEvents()
        #expect(all1.map(\.key) == all2.map(\.key) && all1.map(\.event) == all2.map(\.event) && all1.count == 500)
        for k in f1.keys { #expect(try f1.events(forKey: k) == f2.events(forKey: k)) }
        let b1 = try readBytes(d1 + "/" + name1), b2 = try readBytes(d2 + "/" + name2)
        #expect(b1.count == b2.count)
        #expect(Array(b1[8..<12]) == [1, 0, 0, 0] && Array(b2[8..<12]) == [2, 0, 0, 0])
        #expect(b1[16..<(b1.count - 48)] != b2[16..<(b2.count - 48)], "the footers hold different block checksums")
    }

    /// A version this reader does not know, or a trailer whose version is not the header's, is an error naming the file.
    @Test func unknownOrInconsistentVersionsAreRejected() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (writer, _) = realisticWriter(events: 50, keys: 3, seed: 2, blockTarget: 64)
        let (name, _) = try writer.write(directory: dir.path, source: "usage-2", firstOffset: 0, lastOffset: 49)
        let bytes = try readBytes(dir.file(name))
        let trailerVersion = bytes.count - 48 + 32
        let cases: [(String, [(Int, UInt8)], LineageError.Code)] = [
            ("both-3.mlz", [(8, 3), (trailerVersion, 3)], .unsupportedVersion),
            ("header-1.mlz", [(8, 1)], .corrupt),
            ("trailer-1.mlz", [(trailerVersion, 1)], .corrupt),
            ("both-0.mlz", [(8, 0), (trailerVersion, 0)], .unsupportedVersion),
        ]
        for (file, patches, code) in cases {
            var damaged = bytes
            for (at, value) in patches { damaged[at] = value }
            try writeBytes(damaged, dir.file(file))
            #expect {
                try LineageFile(path: dir.file(file))
            } throws: { error in
                guard let e = error as? LineageError else { return false }
                return e.code == code && e.file == dir.file(file)
            }
        }
    }
}
