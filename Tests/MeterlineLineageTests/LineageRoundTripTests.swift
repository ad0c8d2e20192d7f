import Foundation
@testable import MeterlineLineage
import Testing

@Suite struct LineageRoundTripTests {
    /// Random keys and events, every id shape, extreme values; written, read back, compared.
    @Test(arguments: [1, 3, 4096])
    func roundTrip(blockTarget: Int) throws {
        for seed in testSeeds(fixed: [1, 42, 0xDEAD_BEEF]) {
            try roundTrip(seed: seed, blockTarget: blockTarget)
        }
    }

    private func roundTrip(seed: UInt64, blockTarget: Int) throws {
        var g = SeededGenerator(seed: seed)
        let dir = try TempDir()
        defer { dir.cleanup() }

        let keyPool = (0..<Int.random(in: 1...60, using: &g)).map { i -> String in
            switch i % 5 {
            case 0: "cust-\(i)|tokens|model=large|2026-10-01T0\(i % 10):00:00Z"
            case 1: "cust-\(i)|req"
            case 2: "ключ-\(i)-é"
            case 3: i == 3 ? "" : "k\(i)"
            default: "cust-\(i)|tokens|model=small|2026-10-01T05:00:00Z|🚀"
            }
        }
        let sources = ["usage-3", "usage-12", "events/2026-10-01.jsonl", "ünïcode-src"]
        let extremes: [Int128] = [.min, .max, 0, -1, 1, Int128(Int64.min), Int128(Int64.max), Int128(Int64.max) + 1,
                                  -1_000_000_000_000_000_000, 123_456_789_000_000_000_000_000_000]
        var writer = LineageWriter(blockTargetEvents: blockTarget)
        var expected: [String: [LineageEvent]] = [:]
        var sums: [String: Int128] = [:]
        let count = Int.random(in: 0...3000, using: &g)
        var time = Int64.random(in: 1_700_000_000_000_000...1_800_000_000_000_000, using: &g)
        for n in 0..<count {
            let key = keyPool.randomElement(using: &g)!
            let id: String = switch UInt8.random(in: 0..<8, using: &g) {
            case 0, 1, 2: uuidString(&g)
            case 3: uuidString(&g, upper: true)
            case 4: "Mixed-" + uuidString(&g) + "A"
            case 5: String(uuidString(&g).prefix(35)) + "G"  // UUID-shaped but not hex
            case 6: n % 7 == 0 ? "" : "evt-\(n)-ü"
            default: { var u = Array(uuidString(&g)); u[0] = "A"; u[1] = "b"; return String(u) }()  // mixed case
            }
            time &+= Int64.random(in: -1_000...50_000, using: &g)
            let t: Int64 = n % 97 == 5 ? (g.next() % 2 == 0 ? .min : .max) : time
            let value: Int128 = switch UInt8.random(in: 0..<4, using: &g) {
            case 0: extremes.randomElement(using: &g)!
            case 1: Int128(Int64.random(in: -100...100, using: &g)) * 1_000_000_000
            case 2: Int128(bitPattern: UInt128(g.next()) << 64 | UInt128(g.next()))
            default: Int128(Int64.random(in: .min ... .max, using: &g))
            }
            let offset: Int64 = n % 50 == 7 ? Int64.random(in: .min ... .max, using: &g) : Int64(n) * 3
            let event = LineageEvent(id: id, source: sources.randomElement(using: &g)!, timeMicros: t, value: value, offset: offset)
            writer.append(key: key, event: event)
            expected[key, default: []].append(event)
            sums[key, default: 0] &+= value
        }
        #expect(writer.eventCount == count, "seed \(seed)")
        #expect(writer.isEmpty == (count == 0), "seed \(seed)")

        let (name, bytes) = try writer.write(directory: dir.path, source: "usage-3", firstOffset: 42, lastOffset: 1041)
        #expect(name == "usage-3.00000000000000000042-00000000000000001041.mlz")
        let file = try LineageFile(path: dir.file(name))
        #expect(try readBytes(dir.file(name)).count == bytes, "seed \(seed)")
        #expect(file.source == "usage-3" && file.firstOffset == 42 && file.lastOffset == 1041, "seed \(seed)")
        #expect(file.eventCount == count, "seed \(seed)")
        #expect(file.keys == utf8Sorted(Array(expected.keys)), "seed \(seed) block target \(blockTarget)")

        for (key, events) in expected {
            let got = try file.events(forKey: key)
            #expect(got == events, "seed \(seed) block target \(blockTarget) key \(key)")
            let summary = file.summary(forKey: key)
            #expect(summary?.events == events.count, "seed \(seed) key \(key)")
            #expect(summary?.valueSum == sums[key], "seed \(seed) key \(key)")
        }
        #expect(file.summary(forKey: "no such key") == nil)
        #expect(try file.events(forKey: "no such key") == [])

        let all = try file.allEvents()
        let expectedAll = utf8Sorted(Array(expected.keys)).flatMap { k in expected[k]!.map { (k, $0) } }
        #expect(all.count == expectedAll.count, "seed \(seed)")
        #expect(zip(all, expectedAll).allSatisfy { $0.key == $1.0 && $0.event == $1.1 }, "seed \(seed) block target \(blockTarget)")
        // The offsets alone, as `backfill --previous` reads them: the same, in the same order.
        #expect(try file.allOffsets() == all.map(\.event.offset), "seed \(seed) block target \(blockTarget)")
    }

    @Test func emptyFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = LineageWriter()
        #expect(writer.isEmpty && writer.eventCount == 0)
        let (name, bytes) = try writer.write(directory: dir.path, source: "usage-0", firstOffset: 0, lastOffset: 0)
        let file = try LineageFile(path: dir.file(name))
        #expect(file.keys.isEmpty)
        #expect(file.eventCount == 0 && file.blockCount == 0)
        #expect(try file.allEvents().isEmpty)
        #expect(file.summary(forKey: "x") == nil)
        print("empty lineage file: \(bytes) bytes")
    }

    /// Each key's events form their own block (one key per block at this block size), so each block has the common
    /// decimal scale of its key's values: 9 (the usual one, divided by a constant) with values inside and outside
    /// the 64-bit range, 12 (≤ 18, 64-bit division), 25 (128-bit division) and 0. All must read back exactly.
    @Test func everyValueScaleOfABlockReadsBack() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var writer = LineageWriter(blockTargetEvents: 1)
        let e9: Int128 = 1_000_000_000
        let values: [String: [Int128]] = [
            "scale-9": [e9, -7 * e9, Int128(Int64.max / 1_000_000_000) * e9, Int128(Int64.min / 1_000_000_000) * e9,
                        (Int128(1) << 90) * e9, -(Int128(1) << 80) * e9 + e9 * 3],
            "scale-12": [5 * e9 * 1000, -(Int128(1) << 80) * e9 * 1000, 1_000_000_000_000],
            "scale-25": [(Int128(1) << 30) * 10_000_000_000_000_000_000_000_000, -10_000_000_000_000_000_000_000_000],
            "scale-0": [Int128.max, .min, 1, -3],
        ]
        var expected: [String: [LineageEvent]] = [:]
        var offset: Int64 = 0
        for key in values.keys.sorted() {
            for v in values[key]! {
                let event = LineageEvent(id: "id-\(offset)", source: "s", timeMicros: 1_790_000_000_000_000 + offset, value: v, offset: offset)
                writer.append(key: key, event: event)
                expected[key, default: []].append(event)
                offset += 1
            }
        }
        let (name, _) = try writer.write(directory: dir.path, source: "s", firstOffset: 0, lastOffset: offset - 1)
        let file = try LineageFile(path: dir.file(name))
        for (key, events) in expected { #expect(try file.events(forKey: key) == events, "key \(key)") }
    }

    @Test func uuidCaseIsPreservedAndPacked() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var writer = LineageWriter()
        let ids = ["0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E",
                   "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
                   "0F8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e "]
        for (i, id) in ids.enumerated() {
            writer.append(key: "k", event: LineageEvent(id: id, source: "s", timeMicros: Int64(i), value: 1, offset: Int64(i)))
        }
        let (name, _) = try writer.write(directory: dir.path, source: "s", firstOffset: 0, lastOffset: 5)
        #expect(try LineageFile(path: dir.file(name)).events(forKey: "k").map(\.id) == ids)
    }

    @Test func fileNames() {
        #expect(LineageWriter.fileName(source: "usage-3", firstOffset: 42, lastOffset: 1041)
            == "usage-3.00000000000000000042-00000000000000001041.mlz")
        #expect(LineageWriter.fileName(source: "in/2026-10-01.jsonl", firstOffset: 0, lastOffset: Int64.max)
            == "in%2F2026-10-01.jsonl.00000000000000000000-09223372036854775807.mlz")
        #expect(LineageWriter.fileName(source: "..", firstOffset: 1, lastOffset: 2) == "%2E..00000000000000000001-00000000000000000002.mlz")
        #expect(LineageWriter.fileName(source: "a b", firstOffset: 1, lastOffset: 2) != LineageWriter.fileName(source: "a_b", firstOffset: 1, lastOffset: 2))
        let long = LineageWriter.fileName(source: String(repeating: "x", count: 1000), firstOffset: 1, lastOffset: 2)
        #expect(long.utf8.count <= 255)
        #expect(long != LineageWriter.fileName(source: String(repeating: "x", count: 1001), firstOffset: 1, lastOffset: 2))
        // Names sort by offset.
        let a = LineageWriter.fileName(source: "usage-3", firstOffset: 9, lastOffset: 99)
        let b = LineageWriter.fileName(source: "usage-3", firstOffset: 100, lastOffset: 200)
        #expect(a < b)
    }

    @Test func errorDescriptionNamesTheFile() {
        let e = LineageError(file: "/x/y.mlz", message: "boom", code: .corrupt)
        #expect(e.description == "lineage file /x/y.mlz: boom")
    }
}

@Suite struct LineageByteAppendTests {
    /// `append(_:source:id:...)` with id bytes writes the same file as `append(key:event:)` with strings.
    @Test func byteAppendEqualsStringAppend() throws {
        for seed in testSeeds(fixed: [7, 99]) {
            var g = SeededGenerator(seed: seed)
            var byString = LineageWriter(blockTargetEvents: 64)
            var byBytes = LineageWriter(blockTargetEvents: 64)
            let keys = (0..<20).map { "cust-\($0)|tokens|model=large|2026-10-01T05:00:00Z" }
            let sources = ["usage-1", "llm-proxy", "ünïcode"]
            for n in 0..<1_000 {
                let key = keys.randomElement(using: &g)!
                let source = sources.randomElement(using: &g)!
                let id = switch n % 4 { case 0: uuidString(&g, upper: true); case 1: "evt-\(n)-é"; default: uuidString(&g) }
                let event = LineageEvent(id: id, source: source, timeMicros: 1_790_812_800_000_000 + Int64(n),
                                         value: Int128(Int64.random(in: -5...Int64.max, using: &g)), offset: Int64(n))
                byString.append(key: key, event: event)
                let kh = byBytes.keyHandle(for: key), sh = byBytes.sourceHandle(for: source)
                var idCopy = id
                idCopy.withUTF8 { byBytes.append(kh, source: sh, id: UnsafeRawBufferPointer($0), timeMicros: event.timeMicros,
                                                 value: event.value, offset: event.offset) }
            }
            let a = try byString.encode(source: "usage-1", firstOffset: 0, lastOffset: 999)
            let b = try byBytes.encode(source: "usage-1", firstOffset: 0, lastOffset: 999)
            #expect(a == b, "seed \(seed)")
        }
    }
}

@Suite struct LineageKeyOrderTests {
    /// The writer orders keys by their first 32 bytes as words (a radix sort for many keys) and `memcmp` past them;
    /// the order must be exactly the byte order of `lexicographicallyPrecedes`: keys sharing long prefixes, lengths
    /// around 8, 16 and 32 bytes, NUL and non-ASCII bytes, prefixes of one another.
    @Test func keyOrderIsTheUTF8ByteOrder() {
        for seed in testSeeds(fixed: [3, 0x5EED]) {
            var g = SeededGenerator(seed: seed)
            let alphabet: [String] = ["a", "b", "|", "-", "\u{0}", "\u{1}", "é", "z", "0", "9", "~", "\u{7F}"]
            var seen: Set<String> = [], list: [String] = []   // distinct, in generation order (replayable from the seed)
            for _ in 0..<3_000 {
                // Stems shorter than 16 bytes, between 16 and 32, and longer (keys that tie on their first 32 bytes).
                let stem = ["cust-000042|tokens|", "cust-00004", "eu-cust-713|", "", "eu-cust-000042|tokens|model=small|2026-10-01T"]
                    .randomElement(using: &g)!
                var s = stem
                for _ in 0..<Int(g.next() % 24) { s += alphabet.randomElement(using: &g)! }
                if seen.insert(s).inserted { list.append(s) }
            }
            let include = list.indices.map { _ in g.next() % 5 != 0 }
            // All of them (a radix sort by the first 16 bytes), and a few (a comparison sort).
            for names in [list, Array(list.prefix(150))] {
                let expected = names.indices.filter { include[$0] }.sorted { Array(names[$0].utf8).lexicographicallyPrecedes(Array(names[$1].utf8)) }
                #expect(LineageWriter.utf8Order(names) { include[$0] } == expected, "seed \(seed), \(names.count) names")
            }
        }
    }
}

@Suite struct CommonPrefixTests {
    /// The footer's shared-prefix length compares eight bytes per step: it must equal a byte-by-byte count for
    /// texts differing at every position around the word boundaries, of unequal lengths, prefixes of one another.
    @Test func commonPrefixCountIsTheByteCount() {
        for seed in testSeeds(fixed: [11, 0xC0FFEE]) {
            var g = SeededGenerator(seed: seed)
            for _ in 0..<5_000 {
                let base = (0..<Int(g.next() % 40)).map { _ in UInt8(g.next() % 3) }
                var other = Array(base.prefix(Int(g.next() % UInt64(base.count + 1))))
                for _ in 0..<Int(g.next() % 20) { other.append(UInt8(g.next() % 3)) }
                var expected = 0
                while expected < min(base.count, other.count) && base[expected] == other[expected] { expected += 1 }
                let got = base.withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in LineageWriter.commonPrefixCount(a, b) } }
                #expect(got == expected, "seed \(seed): \(base) vs \(other)")
            }
        }
    }
}

/// `UUIDText.parse` reads sixteen digits per vector step; this checks it against a digit-by-digit reading of the same rule
/// (36 bytes, dashes at 8/13/18/23, hex digits whose letters are all of one case) on random near-UUID texts.
@Suite struct UUIDTextTests {
    static func reference(_ b: [UInt8]) -> (hi: UInt64, lo: UInt64, kind: UInt8)? {
        guard b.count == 36 else { return nil }
        var digits: [UInt64] = []
        var lower = false, upper = false
        for (i, c) in b.enumerated() {
            if [8, 13, 18, 23].contains(i) { if c != 0x2D { return nil } else { continue } }
            switch c {
            case 0x30...0x39: digits.append(UInt64(c - 0x30))
            case 0x61...0x66: digits.append(UInt64(c - 0x61 + 10)); lower = true
            case 0x41...0x46: digits.append(UInt64(c - 0x41 + 10)); upper = true
            default: return nil
            }
        }
        if lower && upper { return nil }
        let hi = digits[0..<16].reduce(0) { $0 << 4 | $1 }, lo = digits[16..<32].reduce(0) { $0 << 4 | $1 }
        return (hi, lo, upper ? 2 : 1)
    }

    @Test func sixteenDigitsAtATimeMatchDigitByDigitRule() {
        let seed: UInt64 = 0x0D1E_5EED
        var g = SeededGenerator(seed: seed)
        // Hex digits of both cases, and the bytes right outside each hex range, '-' and non-ASCII bytes.
        let pool: [UInt8] = Array(0x30...0x39) + Array(0x61...0x66) + Array(0x41...0x46) + [0x2F, 0x3A, 0x40, 0x47, 0x60, 0x67, 0x2D, 0x00, 0x80, 0xB0, 0xB9, 0xC1, 0xC6, 0xE1, 0xE6, 0xFF]
        let hexLower: [UInt8] = Array("0123456789abcdef".utf8), hexUpper: [UInt8] = Array("0123456789ABCDEF".utf8)
        var valid = 0
        for round in 0..<200_000 {
            var b: [UInt8]
            let digits = round % 3 == 0 ? hexUpper : hexLower
            b = (0..<36).map { [8, 13, 18, 23].contains($0) ? 0x2D : digits[Int(g.next() % 16)] }
            // Most texts get a few random bytes from the pool (often one breaks it), some stay valid.
            for _ in 0..<Int(g.next() % 3) { b[Int(g.next() % 36)] = pool[Int(g.next() % UInt64(pool.count))] }
            if round % 50 == 0 { b.removeLast() }
            let got = b.withUnsafeBufferPointer { UUIDText.parse($0) }
            let want = UUIDTextTests.reference(b)
            #expect(got?.hi == want?.hi && got?.lo == want?.lo && got?.kind == want?.kind,
                    "seed \(seed) round \(round): \(String(decoding: b, as: UTF8.self))")
            if want != nil { valid += 1 }
            if got?.hi != want?.hi || got?.kind != want?.kind { break }
        }
        #expect(valid > 50_000 && valid < 190_000, "both outcomes exercised (seed \(seed))")
    }
}
