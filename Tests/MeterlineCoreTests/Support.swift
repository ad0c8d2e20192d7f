import Foundation
@testable import MeterlineCore

/// Test helpers on the project's seeded generator (MeterlineCore.SeededGenerator, SplitMix64).
extension SeededGenerator {
    /// Uniform in 0..<n (n > 0); modulo bias is irrelevant for test data.
    mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    /// Uniform-ish in 0..<n for n up to Int128.max.
    mutating func below128(_ n: Int128) -> Int128 {
        (Int128(next() >> 1) << 64 | Int128(next())) % n
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(below(UInt64(range.upperBound - range.lowerBound + 1)))
    }
    mutating func chance(_ percent: UInt64) -> Bool { below(100) < percent }
}

/// The seed of randomized tests: METERLINE_TEST_SEED from the environment when set (to replay a
/// failure), otherwise a fixed one so runs are reproducible.
func testSeed(default value: UInt64) -> UInt64 {
    if let s = ProcessInfo.processInfo.environment["METERLINE_TEST_SEED"], let v = UInt64(s) { return v }
    return value
}

/// Test shorthands: literals that must parse (a failure here is a bug in the test itself).
func q(_ s: String) -> Quantity { try! Quantity(s) }
func amt(_ s: String) -> Amount { try! Amount(s) }
func utc(_ s: String) -> Int64 {
    guard let t = RFC3339.parseMicros(s) else { fatalError("bad test timestamp \(s)") }
    return t
}
