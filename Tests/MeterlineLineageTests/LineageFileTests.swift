import Foundation
import MeterlineLineage
import Testing

/// A small realistic workload: `keys` rollup keys, UUID ids, a few sources, times rising by
/// small random steps, values small integers × 1e9, offsets rising per source.
func realisticWriter(events: Int, keys: Int, seed: UInt64, blockTarget: Int = 4096) -> (LineageWriter, [String: [LineageEvent]]) {
    var g = SeededGenerator(seed: seed)
    let keyNames = (0..<keys).map { "cust-\($0 % 997)|tokens|model=\(["large", "small", "tiny"][$0 % 3])|2026-10-01T\(String($0 % 24).leftPad(2)):00:00Z|\($0)" }
    let sources = ["usage-0", "usage-1", "usage-2", "usage-3"]
    var offsets: [Int64] = [1000, 2000, 3000, 4000]
    var time: Int64 = 1_790_000_000_000_000
    var writer = LineageWriter(blockTargetEvents: blockTarget)
    var expected: [String: [LineageEvent]] = [:]
    for _ in 0..<events {
        time += Int64.random(in: 0..<1000, using: &g)
        let s = Int.random(in: 0..<sources.count, using: &g)
        offsets[s] += 1
        let key = keyNames[Int.random(in: 0..<keys, using: &g)]
        let e = LineageEvent(id: uuidString(&g), source: sources[s], timeMicros: time,
                             value: Int128(Int.random(in: 1...100, using: &g)) * 1_000_000_000, offset: offsets[s])
        writer.append(key: key, event: e)
        expected[key, default: []].append(e)
    }
    return (writer, expected)
}

@Suite struct LineageFileTests {
    @Test func deterministicBytes() throws {
        for seed in testSeeds(fixed: [7]) {
            let dir1 = try TempDir(), dir2 = try TempDir()
            defer { dir1.cleanup(); dir2.cleanup() }
            var (w1, _) = realisticWriter(events: 20_000, keys: 300, seed: seed)
            let (w2, _) = realisticWriter(events: 20_000, keys: 300, seed: seed)
            let (n1, _) = try w1.write(directory: dir1.path, source: "usage-3", firstOffset: 5, lastOffset: 9)
            let (n2, _) = try w2.write(directory: dir2.path, source: "usage-3", firstOffset: 5, lastOffset: 9)
            #expect(n1 == n2)
            // Compared as `Data`: a failing `#expect` on two `[UInt8]` images would spend minutes diffing them.
            #expect(try Data(readBytes(dir1.file(n1))) == Data(readBytes(dir2.file(n2))), "seed \(seed)")
            // A retry into the same directory rewrites identical bytes.
            let first = try readBytes(dir1.file(n1))
            _ = try w1.write(directory: dir1.path, source: "usage-3", firstOffset: 5, lastOffset: 9)
            #expect(try Data(readBytes(dir1.file(n1))) == Data(first), "seed \(seed)")
            // reset() leaves no trace: replaying the appends gives the same image.
            let image = try w1.encode(source: "usage-3", firstOffset: 5, lastOffset: 9)
            #expect(Data(image) == Data(first))
            w1.reset()
            #expect(w1.isEmpty && w1.eventCount == 0)
            let (w3, _) = realisticWriter(events: 20_000, keys: 300, seed: seed)
            #expect(try Data(w3.encode(source: "usage-3", firstOffset: 5, lastOffset: 9)) == Data(image), "seed \(seed)")
            #expect(try LineageWriter().encode(source: "usage-3", firstOffset: 5, lastOffset: 9)
                == w1.encode(source: "usage-3", firstOffset: 5, lastOffset: 9))
            // No temp files left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir1.path) == [n1])
        }
    }

    /// 1,000,000 events over 5,000 keys with UUID ids: bytes/event on disk and write throughput.
    @Test func sizeAndThroughput() throws {
        let seed: UInt64 = 2026
        let dir = try TempDir()
        defer { dir.cleanup() }
        let n = 1_000_000
        // Pre-generate so the timing covers only append + write.
        var g = SeededGenerator(seed: seed)
        let keyNames = (0..<5_000).map { "cust-\($0 % 997)|tokens|model=\(["large", "small", "tiny"][$0 % 3])|2026-10-01T\(String($0 % 24).leftPad(2)):00:00Z|\($0)" }
        let sources = ["usage-0", "usage-1", "usage-2", "usage-3"]
        var offsets: [Int64] = [0, 0, 0, 0]
        var time: Int64 = 1_790_000_000_000_000
        var input: [(String, LineageEvent)] = []
        input.reserveCapacity(n)
        for _ in 0..<n {
            time += Int64.random(in: 0..<1000, using: &g)
            let s = Int.random(in: 0..<sources.count, using: &g)
            offsets[s] += 1
            input.append((keyNames[Int.random(in: 0..<keyNames.count, using: &g)],
                          LineageEvent(id: uuidString(&g), source: sources[s], timeMicros: time,
                                       value: Int128(Int.random(in: 1...100, using: &g)) * 1_000_000_000, offset: offsets[s])))
        }

        let clock = ContinuousClock()
        var writer = LineageWriter()
        let appendTime = clock.measure {
            for (k, e) in input { writer.append(key: k, event: e) }
        }
        var result: (fileName: String, bytes: Int) = ("", 0)
        let writeTime = try clock.measure {
            result = try writer.write(directory: dir.path, source: "usage-0", firstOffset: 0, lastOffset: Int64(n - 1))
        }
        let perEvent = Double(result.bytes) / Double(n)
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        let total = seconds(appendTime) + seconds(writeTime)
        print("lineage size: \(result.bytes) bytes for \(n) events over \(keyNames.count) keys = \(String(format: "%.2f", perEvent)) bytes/event")
        print("lineage write: append \(appendTime), write \(writeTime), \(String(format: "%.0f", Double(n) / total)) events/s")
        #expect(perEvent <= 24, "seed \(seed): \(perEvent) bytes/event")

        // Steady state: the next checkpoint reuses the writer's capacity (no page faults, no regrowth).
        writer.reset()
        let appendAgain = clock.measure {
            for (k, e) in input { writer.append(key: k, event: e) }
        }
        var again: (fileName: String, bytes: Int) = ("", 0)
        let writeAgain = try clock.measure {
            again = try writer.write(directory: dir.path, source: "usage-0", firstOffset: 0, lastOffset: Int64(n - 1))
        }
        #expect(again == result)
        print("lineage write (reused writer): append \(appendAgain), write \(writeAgain), \(String(format: "%.0f", Double(n) / (seconds(appendAgain) + seconds(writeAgain)))) events/s")

        let readClock = clock.measure {
            let file = try? LineageFile(path: dir.file(result.fileName))
            #expect(file?.eventCount == n)
            let all = try? file?.allEvents()
            #expect(all?.count == n)
        }
        print("lineage read all: \(readClock)")
        let file = try LineageFile(path: dir.file(result.fileName))
        var expected: [String: [LineageEvent]] = [:]
        for (k, e) in input.prefix(200_000) { expected[k, default: []].append(e) }
        for k in keyNames.prefix(50) {
            let got = try file.events(forKey: k)
            #expect(Array(got.prefix(expected[k]?.count ?? 0)) == (expected[k] ?? []), "seed \(seed) key \(k)")
        }
    }

    /// Every key is found, with its own events and summary, and nothing else is: keys that share prefixes, keys of
    /// other scripts (found byte for byte, in UTF-8 order), and absent keys before, between and after them.
    @Test func keysAreFoundExactlyAndAbsentKeysAreNot() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let names = ["a", "a|b", "a|b|", "ab", "cust-1", "cust-10", "cust-100", "cust-2", "zákazník-1", "zákazník-10", "顧客-1", "ｃｕｓｔ"]
        var writer = LineageWriter(blockTargetEvents: 2)
        var expected: [String: [LineageEvent]] = [:]
        for (i, k) in names.enumerated() {
            for j in 0..<(i % 3 + 1) {
                let e = LineageEvent(id: "ev-\(i)-\(j)", source: "usage-0", timeMicros: 1_790_000_000_000_000 + Int64(i),
                                     value: Int128(i * 10 + j), offset: Int64(i * 3 + j))
                writer.append(key: k, event: e)
                expected[k, default: []].append(e)
            }
        }
        let (name, _) = try writer.write(directory: dir.path, source: "usage-0", firstOffset: 0, lastOffset: 40)
        let file = try LineageFile(path: dir.file(name))
        #expect(file.keys.count == names.count && file.blockCount > 3)
        for k in names {
            #expect(try file.events(forKey: k) == expected[k], "\(k)")
            #expect(file.summary(forKey: k)?.events == expected[k]?.count, "\(k)")
        }
        for absent in ["", "0", "a|", "a|b||", "aa", "cust-", "cust-11", "cust-3", "zákazník", "zákazník-2", "顧客", "顧客-2", "～"] {
            #expect(file.summary(forKey: absent) == nil, "\(absent)")
            #expect(try file.events(forKey: absent).isEmpty, "\(absent)")
        }
    }

    /// Reading one key decompresses exactly its block; summaries come from the footer alone.
    @Test func randomAccessDecodesOneBlock() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (writer, expected) = realisticWriter(events: 50_000, keys: 500, seed: 99)
        let (name, _) = try writer.write(directory: dir.path, source: "usage-1", firstOffset: 0, lastOffset: 49_999)
        let file = try LineageFile(path: dir.file(name))
        #expect(file.blockCount > 10)
        #expect(file.blocksDecoded == 0)
        for k in file.keys { _ = file.summary(forKey: k) }
        #expect(file.blocksDecoded == 0)
        let key = file.keys[file.keys.count / 2]
        #expect(try file.events(forKey: key) == expected[key])
        #expect(file.blocksDecoded == 1)
        _ = try file.events(forKey: file.keys[0])
        #expect(file.blocksDecoded == 2)
        _ = try file.allEvents()
        #expect(file.blocksDecoded == 2 + file.blockCount)

        // With one key per block, other keys' blocks are never touched.
        let (single, _) = realisticWriter(events: 5_000, keys: 50, seed: 100, blockTarget: 1)
        let (name2, _) = try single.write(directory: dir.path, source: "usage-2", firstOffset: 0, lastOffset: 4_999)
        let file2 = try LineageFile(path: dir.file(name2))
        #expect(file2.blockCount == file2.keys.count)
        _ = try file2.events(forKey: file2.keys[7])
        #expect(file2.blocksDecoded == 1)
    }
}
