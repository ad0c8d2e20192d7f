import Foundation
import MeterlineLineage

/// SplitMix64: a tiny seeded generator so every failure can be replayed from its printed seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Seeds for randomized tests: LINEAGE_SEED from the environment if set, else fixed ones plus one fresh.
func testSeeds(fixed: [UInt64]) -> [UInt64] {
    if let s = ProcessInfo.processInfo.environment["LINEAGE_SEED"], let seed = UInt64(s) { return [seed] }
    return fixed + [UInt64.random(in: 0...UInt64.max)]
}

/// A fresh empty directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "lineage-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    /// A directory the caller made (removed by `cleanup()` all the same).
    init(existing path: String) { self.path = path }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

func uuidString<G: RandomNumberGenerator>(_ g: inout G, upper: Bool = false) -> String {
    let hi = g.next(), lo = g.next()
    let hex = String(hi, radix: 16).leftPad(16) + String(lo, radix: 16).leftPad(16)
    let chars = Array(hex)
    let s = String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
        + String(chars[16..<20]) + "-" + String(chars[20..<32])
    return upper ? s.uppercased() : s
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: Swift.max(0, n - count)) + self }
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeBytes(_ bytes: [UInt8], _ path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Keys in the file's order: ascending UTF-8 bytes.
func utf8Sorted(_ keys: [String]) -> [String] {
    keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
}
