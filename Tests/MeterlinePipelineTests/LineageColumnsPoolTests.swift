import MeterlineConfig
import MeterlineCore
@testable import MeterlinePipeline
import Testing

@Suite struct LineageColumnsPoolTests {
    /// Feeds `count` events of a few subjects to partition 0 of `p`, from offset `first`.
    func feed(_ p: Pipeline, first: Int, count: Int) {
        for i in first..<first + count {
            var bytes = Array(tokens("id-\(i)", "c-\(i % 7)", "2026-10-01T0\(i % 10):00:00Z", 1 + i % 50).utf8)
            bytes.withUnsafeMutableBytes { p.process(partition: 0, offset: Int64(i), value: UnsafeRawBufferPointer($0), nowMicros: now) }
        }
    }

    /// Columns given back are kept empty with their capacity, up to the limit; what the pool holds is taken last in, first out.
    @Test func keepsEmptiedColumnsUpToItsLimit() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let p = Pipeline(config: config)
        feed(p, first: 0, count: 300)
        var out = p.checkpoint()
        var columns = try #require(out.lineage.first?.events)
        out.lineage = []
        #expect(columns.count == 300)
        let capacity = columns.rows.capacity
        let pool = LineageColumnsPool(limit: 1)
        pool.give(columns)
        columns = LineageColumns()
        #expect(pool.count == 1)
        pool.give(LineageColumns())  // over the limit: freed
        #expect(pool.count == 1)
        let back = try #require(pool.take())
        #expect(back.isEmpty && back.keyCount == 0 && back.sources.isEmpty && back.idBytes.isEmpty)
        #expect(back.rows.capacity >= capacity, "the rows' buffer is kept")
        #expect(pool.take() == nil && pool.count == 0)
        pool.give(back)
        #expect(pool.count == 1)
        pool.close()
        #expect(pool.count == 0, "closing frees what the pool held")
        pool.give(LineageColumns())
        #expect(pool.count == 0 && pool.take() == nil, "a closed pool keeps nothing")
    }

    /// A pipeline with a pool fills the columns it takes from it at a checkpoint, and its lineage is the same as
    /// without one: same rows, ids, keys and sources, checkpoint after checkpoint.
    @Test func recycledColumnsGiveTheSameLineage() throws {
        let config = try ConfigLoader.parse(yaml: pipelineConfigYAML, file: "p.yaml")
        let plain = Pipeline(config: config)
        let pooled = Pipeline(config: config)
        let pool = LineageColumnsPool(limit: 2)
        pooled.lineagePool = pool
        for round in 0..<4 {
            feed(plain, first: round * 200, count: 150 + round * 20)
            feed(pooled, first: round * 200, count: 150 + round * 20)
            var a = plain.checkpoint(), b = pooled.checkpoint()
            let x = try #require(a.lineage.first?.events), y = try #require(b.lineage.first?.events)
            #expect(x.rows == y.rows && x.keys == y.keys && x.sources == y.sources, "round \(round)")
            #expect(x.idBytes.array == y.idBytes.array, "round \(round)")
            if round > 0 { #expect(pool.count == 0, "the checkpoint took the columns given back after the last one") }
            a.lineage = []
            b.lineage = []
            pool.give(y)
            #expect(pool.count == 1)
        }
    }
}
