import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlinePipeline
import Testing

/// `ShardedPipeline.routeLines` (a file chunk at a time, as the backfill reads) must route exactly the messages
/// `process` routes line by line: same offsets (empty lines take one), same outputs, DLQ records and counters,
/// whatever the `maxLines` cuts and chunk boundaries.
@Suite struct RouteLinesTests {
    @Test(arguments: [1, 7, 1_000])
    func chunksEqualLineByLine(maxLines: Int) throws {
        var config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        config.settings.allowedLatenessMicros = Int64.max / 4  // subject routing: windows close at end of input
        let seed: UInt64 = 0x11AE5
        var g = SeededGenerator(seed: seed)
        var lines: [String] = []
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        for i in 0..<1_500 {
            clock += Int64(g.next() % 30) * 1_000_000
            switch g.next() % 50 {
            case 0: lines.append("")                                   // empty: an offset, no message
            case 1: lines.append(#"{"specversion":"1.0","id":"broken"#)  // dead-lettered, at its offset
            case 2 where i > 0: lines.append(lines[Int(g.next() % UInt64(lines.count))])  // a retry: duplicate
            default: lines.append(tokens("id-\(i)", "c-\(g.next() % 30)", RFC3339.format(micros: clock), Int(g.next() % 900)))
            }
        }
        let text = Array((lines.joined(separator: "\n") + "\n" + #"{"partial"#).utf8)  // the tail has no newline

        func outputs(_ sp: ShardedPipeline) -> (billing: [String], dlq: [String], offsets: [Int64], counters: Counters) {
            let out = sp.finish()
            sp.stop()
            return (out.flatMap(\.billing).map { $0.json() }.sorted(), out.flatMap(\.dlq).map { "\($0.offset) \($0.reason)" }.sorted(),
                    out.flatMap(\.lineage).flatMap(\.events.offsets).sorted(), sp.counters)
        }
        let make = { Pipeline(config: config) }
        let reference = ShardedPipeline(shards: 3, routing: .subject, batchSize: 64, make: make)
        for (i, line) in lines.enumerated() where !line.isEmpty {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { reference.process(partition: 0, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
        let expected = outputs(reference)

        let sp = ShardedPipeline(shards: 3, routing: .subject, batchSize: 64, make: make)
        var pos = 0, offset: Int64 = 0, messages = 0
        text.withUnsafeBytes { all in
            // Chunks of varying size, as a decompressor hands them out; a line cut by a chunk end waits for the next.
            var chunkEnd = 0
            while pos < all.count {
                chunkEnd = min(all.count, max(chunkEnd, pos) + 1 + Int(g.next() % 900))
                let r = sp.routeLines(UnsafeRawBufferPointer(rebasing: all[pos..<chunkEnd]), partition: 0, firstOffset: offset,
                                      maxLines: maxLines, nowMicros: now)
                if r.lines == 0 && chunkEnd == all.count { break }  // only the unterminated tail is left
                #expect(r.lines <= maxLines && (r.bytes == 0 || all[pos + r.bytes - 1] == 0x0A), "seed \(seed)")
                pos += r.bytes
                offset += Int64(r.lines)
                messages += r.messages
            }
        }
        #expect(offset == Int64(lines.count) && pos == text.count - #"{"partial"#.utf8.count, "seed \(seed)")
        #expect(messages == lines.filter { !$0.isEmpty }.count)
        let got = outputs(sp)
        #expect(!expected.billing.isEmpty && !expected.dlq.isEmpty && expected.counters.duplicate > 0)
        #expect(got.billing == expected.billing, "seed \(seed)")
        #expect(got.dlq == expected.dlq, "seed \(seed)")
        #expect(got.offsets == expected.offsets && got.offsets.count > 1_000, "seed \(seed): accepted events at the same offsets")
        #expect(got.counters == expected.counters && got.counters.balanced, "seed \(seed)")
    }
}
