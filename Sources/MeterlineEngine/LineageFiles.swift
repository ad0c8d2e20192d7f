import MeterlineLineage
import MeterlinePipeline

/// Turns a checkpoint's lineage columns into lineage files: one file per input source and checkpoint.
///
/// Invariant: the file of a source depends only on its events, in offset order (readings of one event in
/// reading order), not on how many shards held them: `parts` are merged by offset.
struct LineageFiles {
    /// Reused between files (its column arrays keep their capacity).
    var writer = LineageWriter()

    /// Writes the events of `parts` (each in offset order; one event's readings are in one part) for `source` as one file.
    /// `eachOffset` is called once per event reading, in file order.
    mutating func write(_ parts: [LineageColumns], source: String, directory: String,
                        eachOffset: ((Int64) -> Void)? = nil) throws -> (fileName: String, bytes: Int) {
        writer.reset()
        let total = parts.reduce(0) { $0 + $1.count }
        precondition(total > 0, "a lineage file has at least one event")
        writer.reserveCapacity(events: total)
        let keyHandles = parts.map { p in p.keys.map { writer.keyHandle(for: $0) } }
        let sourceHandles = parts.map { p in p.sources.map { writer.sourceHandle(for: $0) } }
        var next = [Int](repeating: 0, count: parts.count)
        var first = Int64.max, last = Int64.min
        // The columns as separate arrays (one retain each, once): indexing `parts[p].x[i]` per event can copy the part.
        let offsets = parts.map(\.offsets), keyIndex = parts.map(\.keyIndex), sourceIndex = parts.map(\.sourceIndex)
        let times = parts.map(\.times), values = parts.map(\.values), idEnds = parts.map(\.idEnds), idBytes = parts.map(\.idBytes)
        for _ in 0..<total {
            // The part whose next event has the lowest offset (parts are few: one per shard).
            var best = -1
            var bestOffset = Int64.max
            for p in parts.indices where next[p] < offsets[p].count && offsets[p][next[p]] < bestOffset {
                best = p
                bestOffset = offsets[p][next[p]]
            }
            let i = next[best]
            next[best] = i + 1
            let key = keyHandles[best][Int(keyIndex[best][i])]
            let source = sourceHandles[best][Int(sourceIndex[best][i])]
            let idStart = i == 0 ? 0 : Int(idEnds[best][i - 1]), idEnd = Int(idEnds[best][i])
            idBytes[best].withUnsafeBytes { b in
                writer.append(key, source: source, id: UnsafeRawBufferPointer(rebasing: b[idStart..<idEnd]),
                              timeMicros: times[best][i], value: values[best][i], offset: bestOffset)
            }
            first = min(first, bestOffset)
            last = max(last, bestOffset)
            eachOffset?(bestOffset)
        }
        return try writer.write(directory: directory, source: source, firstOffset: first, lastOffset: last)
    }
}
