import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlinePipeline
import Testing

/// `ShardedPipeline.routeLines` (a file chunk at a time, as the backfill reads) must route exactly the messages
/// `process` routes line by line: same offsets (empty lines take one), same outputs, DLQ records and counters,
/// whatever the `maxLines` cuts and chunk boundaries.
@Suite struct RouteLinesTests {
    /// A configuration whose windows close at end of input (subject routing), as the backfill's.
    static func config() throws -> Configuration {
        var config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        config.settings.allowedLatenessMicros = Int64.max / 4
        return config
    }

    /// 1,500 lines: events of 30 subjects, empty lines, broken events and retried (duplicate) lines.
    static func lines(_ g: inout SeededGenerator) -> [String] {
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
        return lines
    }

    /// The end-of-input outputs of a sharded pipeline, in a comparable form.
    static func outputs(_ sp: ShardedPipeline) -> (billing: [String], dlq: [String], offsets: [Int64], counters: Counters) {
        let out = sp.finish()
        sp.stop()
        return (out.flatMap(\.billing).map { $0.json() }.sorted(), out.flatMap(\.dlq).map { "\($0.offset) \($0.reason)" }.sorted(),
                out.flatMap(\.lineage).flatMap(\.events.offsets).sorted(), sp.counters)
    }

    @Test(arguments: [1, 7, 1_000])
    func chunksEqualLineByLine(maxLines: Int) throws {
        let config = try RouteLinesTests.config()
        let seed: UInt64 = 0x11AE5
        var g = SeededGenerator(seed: seed)
        let lines = RouteLinesTests.lines(&g)
        let text = Array((lines.joined(separator: "\n") + "\n" + #"{"partial"#).utf8)  // the tail has no newline
        let outputs = RouteLinesTests.outputs
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

    /// `routeLines(in:from:…)`, the shards reading lines in place from shared chunks, routes the same messages
    /// with the same outputs. A chunk is refilled as soon as it `isFree` (the test takes free chunks first, so a
    /// miscount of a chunk's users would let a shard read overwritten bytes), and one holding routed lines is
    /// never free before its batches were processed.
    @Test(arguments: [1, 7, 1_000])
    func linesReadInPlaceEqualLinesCopied(maxLines: Int) throws {
        let config = try RouteLinesTests.config()
        let seed: UInt64 = 0x5EED_C4
        var g = SeededGenerator(seed: seed)
        let lines = RouteLinesTests.lines(&g)
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        let outputs = RouteLinesTests.outputs
        let make = { Pipeline(config: config) }
        let copied = ShardedPipeline(shards: 3, routing: .subject, batchSize: 64, make: make)
        text.withUnsafeBytes { all in
            var pos = 0, offset: Int64 = 0
            while pos < all.count {
                let r = copied.routeLines(UnsafeRawBufferPointer(rebasing: all[pos...]), partition: 0, firstOffset: offset, maxLines: maxLines, nowMicros: now)
                pos += r.bytes
                offset += Int64(r.lines)
            }
        }
        let expected = outputs(copied)

        let sp = ShardedPipeline(shards: 3, routing: .subject, batchSize: 64, ringCapacity: 2, make: make)
        var pool: [SharedChunk] = []
        var pos = 0, offset: Int64 = 0, carry: [UInt8] = []
        var busyAfterRouting = 0, routedChunks = 0
        while pos < text.count || !carry.isEmpty {
            // The carried partial line, then a slice of the text, as the backfill's reader fills a chunk.
            let take = min(text.count - pos, 1 + Int(g.next() % 700))
            let chunk = pool.first(where: { $0.isFree }) ?? { let c = SharedChunk(capacity: 4_096); pool.append(c); return c }()
            let bytes = carry + text[pos..<pos + take]
            #expect(bytes.count <= chunk.storage.count, "seed \(seed): a line longer than the test's chunks")
            bytes.withUnsafeBytes { chunk.storage.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            chunk.count = bytes.count
            pos += take
            var start = 0
            var routed = 0
            while start < chunk.count {
                let r = sp.routeLines(in: chunk, from: start, partition: 0, firstOffset: offset, maxLines: maxLines, nowMicros: now)
                guard r.lines > 0 else { break }
                start += r.bytes
                offset += Int64(r.lines)
                routed += r.messages
            }
            if routed > 0 {
                routedChunks += 1
                if !chunk.isFree { busyAfterRouting += 1 }
            }
            carry = Array(chunk.bytes[start...])
            if take == 0 { break }
        }
        #expect(carry.isEmpty && offset == Int64(lines.count), "seed \(seed)")
        #expect(routedChunks > 10 && busyAfterRouting == routedChunks, "seed \(seed): a chunk was free while a batch still held its lines")
        #expect(pool.count < routedChunks, "seed \(seed): chunks were reused")
        let got = outputs(sp)
        let busy = pool.filter { !$0.isFree }.count
        #expect(busy == 0, "seed \(seed): every chunk is free once every batch was processed")
        #expect(got.billing == expected.billing, "seed \(seed)")
        #expect(got.dlq == expected.dlq, "seed \(seed)")
        #expect(got.offsets == expected.offsets && got.offsets.count > 1_000, "seed \(seed)")
        #expect(got.counters == expected.counters && got.counters.balanced, "seed \(seed)")
    }
}
