import Foundation
import MeterlineConfig
import MeterlineCore
@testable import MeterlineEngine
import MeterlineLineage
import MeterlinePipeline
import Testing

/// `LineageFiles.write` takes one checkpoint's lineage of a source from several shards. The file must be the one
/// a single pipeline writes for the same events: with parts appended one after another when every key lies in one
/// part, and with parts merged by offset when parts share a key.
@Suite struct LineageFilesTests {
    static let config = try! ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "embedded")
    static let now = RFC3339.parseMicros("2026-10-02T00:00:00Z")!

    /// The lineage columns of `source` after `events` (offset, subject, tokens) went through one pipeline.
    static func part(_ events: [(offset: Int64, subject: String, tokens: Int)]) -> LineageColumns {
        let p = Pipeline(config: config)
        p.sourceNames[0] = "input.jsonl"
        for e in events {
            let id = String(format: "%08x-0000-4000-8000-%012x", e.offset, e.offset)
            let json = #"{"specversion":"1.0","id":"\#(id)","source":"llm-proxy","type":"llm_tokens","subject":"\#(e.subject)","time":"2026-10-01T00:\#(String(format: "%02d", e.offset % 60)):00Z","data":{"tokens":\#(e.tokens),"model":"large"}}"#
            var bytes = Array(json.utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: 0, offset: e.offset, value: UnsafeRawBufferPointer($0), nowMicros: LineageFilesTests.now) }
        }
        let out = p.checkpoint()
        #expect(out.lineage.count == 1 && out.lineage[0].source == "input.jsonl")
        return out.lineage[0].events
    }

    func fileBytes(_ parts: [LineageColumns]) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-lineagefiles-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files = LineageFiles()
        let (name, _) = try files.write(parts, source: "input.jsonl", directory: dir)
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
    }

    @Test(arguments: [false, true])
    func partsGiveTheFileOfOnePipeline(shareKeys: Bool) throws {
        let seed: UInt64 = 0x11_F11E
        var g = SeededGenerator(seed: seed)
        let all = (0..<600).map { i in (offset: Int64(i), subject: "us-cust-\(g.next() % 12)", tokens: Int(1 + g.next() % 500)) }
        // By subject (as the backfill's shards hold them), or alternating events (then both parts hold every key).
        let inA = shareKeys ? all.filter { $0.offset % 2 == 0 } : all.filter { $0.subject.utf8.last! % 2 == 0 }
        let inB = shareKeys ? all.filter { $0.offset % 2 == 1 } : all.filter { $0.subject.utf8.last! % 2 == 1 }
        #expect(!inA.isEmpty && !inB.isEmpty)
        let expected = try fileBytes([LineageFilesTests.part(all)])
        #expect(try fileBytes([LineageFilesTests.part(inA), LineageFilesTests.part(inB)]) == expected, "seed \(seed)")
        #expect(try fileBytes([LineageFilesTests.part(inB), LineageFilesTests.part(inA)]) == expected, "seed \(seed), parts swapped")
    }
}
