import Testing
@testable import MeterlineCore

/// `Hash128` values are persisted (dedup ids and rollup keys in the state changelog, derived output ids), so a
/// faster `Hasher128` must give exactly the old values: these were computed by an independent implementation of
/// the algorithm documented on `Hasher128` (8-byte little-endian words, the tail word tagged with `n % 8`, a length
/// word per field), not by the Swift code under test.
@Suite struct Hash128Tests {
    static func hash(_ fields: [[UInt8]]) -> Hash128 {
        var h = Hasher128()
        for f in fields { f.withUnsafeBytes { h.combine($0) } }
        return h.finalize()
    }

    @Test(arguments: [
        ("", Hash128(high: 0x1df1_4250_89fb_d898, low: 0x3614_f23d_b6c0_7942)),
        ("a", Hash128(high: 0x4c20_4821_1a38_f3d1, low: 0xab49_b6d3_60b4_d585)),
        ("gateway", Hash128(high: 0xb8ee_6d89_5de1_4739, low: 0x033f_e517_fec6_9861)),
        ("llm-proxy", Hash128(high: 0xaa98_a02a_d2dc_85cb, low: 0xef94_8b96_21a0_cf2d)),
        ("0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab", Hash128(high: 0x889b_f94e_c216_69fb, low: 0x9db2_b47f_7471_c594)),
        ("cust-000042", Hash128(high: 0x781f_816e_4a64_4e32, low: 0xd9e8_ed90_7296_8dc7)),
    ] as [(String, Hash128)])
    func knownValues(text: String, expected: Hash128) {
        #expect(Hash128Tests.hash([Array(text.utf8)]) == expected, "\(text)")
    }

    @Test func knownValueOfTwoFieldsAndOfEveryTailLength() {
        #expect(Hash128Tests.hash([Array("llm-proxy".utf8), Array("evt-1".utf8)]) == Hash128(high: 0x0b0a_08d7_a357_d4a5, low: 0x0176_3149_c1ec_91e7))
        #expect(Hash128Tests.hash([Array(1...40)]) == Hash128(high: 0x3f0a_7bf4_6ef4_90b5, low: 0x24b5_4225_1b49_9048))
        // Every length 0...40 at every alignment: the same bytes give the same hash wherever they lie.
        let bytes: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in 0...40 {
            let expected = Hash128Tests.hash([Array(bytes[0..<n])])
            for offset in 1..<8 {
                var h = Hasher128()
                bytes.withUnsafeBytes { h.combine(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
                #expect(h.finalize() == Hash128Tests.hash([Array(bytes[offset..<(offset + n)])]), "length \(n), offset \(offset)")
            }
            #expect(n == 0 || expected != Hash128Tests.hash([Array(bytes[0..<(n - 1)])]), "length \(n)")
        }
    }

    /// The 32 hex digits (billing event ids) against `String(_:radix:)`, zero-padded: every digit value in every
    /// position, and random words (seeded).
    @Test func descriptionIsThirtyTwoLowercaseHexDigits() {
        func reference(_ h: Hash128) -> String {
            func pad(_ x: UInt64) -> String { let t = String(x, radix: 16); return String(repeating: "0", count: 16 - t.count) + t }
            return pad(h.high) + pad(h.low)
        }
        var cases: [Hash128] = [.zero, Hash128(high: .max, low: .max), Hash128(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)]
        for d in 0..<16 { for pos in 0..<16 { let w = UInt64(d) << UInt64(4 * pos); cases.append(Hash128(high: w, low: ~w)) } }
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        for _ in 0..<10_000 { cases.append(Hash128(high: g.next(), low: g.next())) }
        for h in cases { #expect(h.description == reference(h), "seed \(seed)") }
        // `hexPrefix` is the prefix text and the first digits of the same text, for every length.
        for (i, h) in cases.enumerated() {
            let n = i % 33
            #expect(h.hexPrefix(n, after: "JL-") == "JL-" + reference(h).prefix(n), "seed \(seed), \(n) digits")
        }
        #expect(Hash128.zero.hexPrefix(0, after: "") == "")
    }
}
