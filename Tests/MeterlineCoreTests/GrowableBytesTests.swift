import Testing
@testable import MeterlineCore

/// `GrowableBytes.append` copies 16 to 64 bytes with overlapping 16-byte moves and the rest with `copyMemory`:
/// every length from 0 to 130, from every alignment, through growth and copies, gives the bytes a plain array does.
@Suite struct GrowableBytesTests {
    @Test func appendsOfEveryLengthMatchAnArray() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        let source = (0..<400).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        var bytes = GrowableBytes()
        var model: [UInt8] = []
        var snapshot: (GrowableBytes, [UInt8])? = nil
        source.withUnsafeBytes { src in
            for round in 0..<3_000 {
                let n = round < 131 ? round : Int(g.next() % 131)
                let at = Int(g.next() % UInt64(src.count - n + 1))
                bytes.append(UnsafeRawBufferPointer(rebasing: src[at..<(at + n)]))
                model += src[at..<(at + n)]
                // A copy taken now keeps its bytes while the original grows on.
                if round == 1_000 { snapshot = (bytes, model) }
            }
        }
        /// The first index where two byte strings differ (nil when equal), so a failure names a place, not two dumps.
        func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
            a == b ? nil : (zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count))
        }
        #expect(bytes.count == model.count, "seed \(seed)")
        #expect(firstDifference(bytes.array, model) == nil, "seed \(seed)")
        if let (copy, then) = snapshot { #expect(firstDifference(copy.array, then) == nil, "seed \(seed)") }
    }
}
