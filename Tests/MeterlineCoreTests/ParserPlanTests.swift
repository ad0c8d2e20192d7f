import Testing
@testable import MeterlineCore

/// The parser plan's word-compare shortcuts (event types and data keys matched by masked loads, the dimensions
/// hash started from a precomputed state) against the plain definitions they stand in for.
@Suite struct ParserPlanTests {
    static func path(_ s: String) -> JSONPath { try! JSONPath(s) }

    /// Types of every length around the 8- and 16-byte word boundaries, sharing prefixes, more than the four the
    /// plan keeps as words: each is found, and strings one byte off are not.
    @Test func eventTypesAroundTheWordBoundaries() throws {
        let types = ["a", "llm_toke", "llm_token", "llm_tokens_v2_xy", "llm_tokens_v2_xyz", "api_request",
                     "a_type_name_of_thirty_bytes_xx", "llm_tokens_v2_xz"]
        let meters = types.enumerated().map { i, t in
            Meter(slug: "m\(i)", eventType: t, aggregation: .count, valueProperty: nil)
        }
        let catalog = MeterCatalog(meters)
        let plan = ParserPlan(catalog)
        var probes = types
        for t in types {
            probes.append(String(t.dropLast()))
            probes.append(t + "x")
            var b = Array(t.utf8)
            for i in b.indices { b[i] ^= 1; probes.append(String(decoding: b, as: UTF8.self)); b[i] ^= 1 }
        }
        for p in probes {
            // As in a message: the type is followed by more bytes, so the plan's 16-byte loads stay inside.
            let message = Array(#"{"type":""#.utf8) + Array(p.utf8) + Array(#"","subject":"cust-1","time":"x"}"#.utf8)
            message.withUnsafeBytes { b in
                let ref = JSONValueRef(kind: .string, start: 9, end: 9 + p.utf8.count, escaped: false)
                #expect(plan.typeIndex(b, ref) == catalog.typeIndex(b, ref), "type \(p)")
                #expect(plan.typeIndex(b, ref) == types.firstIndex(of: p), "type \(p)")
            }
        }
    }

    /// With at most four types, all short, an unknown type is decided by the words alone; still exact.
    @Test func unknownTypesWithFewShortTypes() {
        let catalog = MeterCatalog([Meter(slug: "t", eventType: "llm_tokens", aggregation: .count, valueProperty: nil),
                                    Meter(slug: "c", eventType: "api_request", aggregation: .count, valueProperty: nil)])
        let plan = ParserPlan(catalog)
        for p in ["llm_tokens", "api_request", "llm_token", "llm_tokensx", "api_requesT", "x", "api_request_long_name"] {
            let message = Array(#"{"type":""#.utf8) + Array(p.utf8) + Array(#"","subject":"cust-1","time":"x"}"#.utf8)
            message.withUnsafeBytes { b in
                let ref = JSONValueRef(kind: .string, start: 9, end: 9 + p.utf8.count, escaped: false)
                #expect(plan.typeIndex(b, ref) == catalog.typeIndex(b, ref), "type \(p)")
            }
        }
    }

    /// The dimensions hash is the hash of each canonical group's name followed by 1 and the value's bytes, or 0
    /// when the value is absent or null; a meter without groupBy has the hash of nothing. Computed here from that
    /// definition, not by the parser's code.
    @Test func dimensionsHashFollowsItsDefinition() throws {
        let meters = [
            Meter(slug: "two", eventType: "t", aggregation: .sum, valueProperty: ParserPlanTests.path("$.v"),
                  groupBy: [("region", ParserPlanTests.path("$.region")), ("model", ParserPlanTests.path("$.model"))]),
            Meter(slug: "one", eventType: "t", aggregation: .count, valueProperty: nil, groupBy: [("model", ParserPlanTests.path("$.model"))]),
            Meter(slug: "none", eventType: "t", aggregation: .count, valueProperty: nil),
        ]
        var parser = EventParser(catalog: MeterCatalog(meters))
        func expected(_ groups: [(String, String?)]) -> Hash128 {
            var h = Hasher128()
            for (name, value) in groups {
                h.combine(name)
                if let value { h.combine(1); h.combine(value) } else { h.combine(0) }
            }
            return h.finalize()
        }
        for (data, model, region) in [(#"{"v":1,"model":"large","region":"eu"}"#, "large", "eu"),
                                      (#"{"v":1,"region":"us"}"#, nil, "us"),
                                      (#"{"v":1,"model":7,"region":null}"#, "7", nil),
                                      (#"{"v":1}"#, nil, nil)] as [(String, String?, String?)] {
            let text = #"{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"c","time":"2026-03-01T11:00:00Z","data":"#
                + data + "}"
            let bytes = Array(text.utf8)
            let readings = try bytes.withUnsafeBytes { b in
                _ = try parser.parse(b, nowMicros: 1 << 60)
                return parser.readings
            }
            #expect(readings.count == 3, "\(data)")
            // Canonical group order is by name: model before region.
            #expect(readings[0].dimensionsHash == expected([("model", model), ("region", region)]), "\(data)")
            #expect(readings[1].dimensionsHash == expected([("model", model)]), "\(data)")
            #expect(readings[2].dimensionsHash == expected([]), "\(data)")
        }
    }

    /// Data keys of every length up to and past 8 bytes, a key that extends a wanted one and one a byte off:
    /// the first value of each wanted key is recorded, nothing else.
    @Test func dataKeysAroundTheWordBoundary() throws {
        let keys = ["t", "tokens", "eightchr", "ninechars"]
        let meters = keys.map { k in Meter(slug: k, eventType: "t", aggregation: .sum, valueProperty: ParserPlanTests.path("$." + k)) }
        var parser = EventParser(catalog: MeterCatalog(meters))
        let text = #"{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"c","time":"2026-03-01T11:00:00Z","data":"#
            + #"{"tokenz":9,"t":1,"eightchrs":9,"tokens":2,"eightchr":3,"ninechar":9,"ninechars":4,"t":9,"tokens":9}}"#
        let values = try Array(text.utf8).withUnsafeBytes { b in
            _ = try parser.parse(b, nowMicros: 1 << 60)
            return parser.readings.map(\.value)
        }
        #expect(values == ["1", "2", "3", "4"].map { Quantity(raw: Int128($0)! * Quantity.one) })
    }
}

/// `ShortHashMemo`: the parser's memoized source states and one-group dimension hashes against the definitions,
/// over more distinct values than the memo holds (so entries are evicted and slots shared), of every length around
/// the 8- and 16-byte boundaries, as strings, numbers and booleans, escaped and not, and in copies of one parser.
@Suite struct ShortHashMemoTests {
    static func identity(_ source: String, _ id: String) -> Hash128 {
        var h = Hasher128()
        h.combine(source)
        h.combine(id)
        return h.finalize()
    }

    static func dimensions(_ value: String?) -> Hash128 {
        var h = Hasher128()
        h.combine("model")
        if let value { h.combine(1); h.combine(value) } else { h.combine(0) }
        return h.finalize()
    }

    @Test func memoizedHashesFollowTheirDefinitions() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        let meters = [
            Meter(slug: "m", eventType: "t", aggregation: .count, valueProperty: nil, groupBy: [("model", ParserPlanTests.path("$.model"))]),
            Meter(slug: "n", eventType: "t", aggregation: .count, valueProperty: nil, groupBy: [("model", ParserPlanTests.path("$.model"))]),
        ]
        var first = EventParser(catalog: MeterCatalog(meters))
        var second = first  // shares the memo until one of them writes
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        // (JSON text of the value, the text its hash covers): strings of 0...20 letters, numbers, booleans, null,
        // an escaped string, and a string and a number with the same text.
        var values: [(json: String, text: String?)] = [("true", "true"), ("false", "false"), ("null", nil), ("12", "12"),
                                                        (#""12""#, "12"), (#""abc""#, "abc"), (#""abc""#, "abc")]
        for n in 0...20 {
            for _ in 0..<6 {
                let t = String((0..<n).map { _ in letters[Int(g.next() % 26)] })
                values.append(("\"" + t + "\"", t))
            }
        }
        var sources = ["s", "llm-proxy", "eightchr", "sixteen-bytes-xx", "seventeen-bytes-x", #"esc\u0061ped"#]
        for n in 1...16 { sources.append(String((0..<n).map { _ in letters[Int(g.next() % 26)] })) }
        for i in 0..<4_000 {
            let v = values[Int(g.next() % UInt64(values.count))]
            let source = sources[Int(g.next() % UInt64(sources.count))]
            let text = #"{"specversion":"1.0","id":"e-\#(i)","source":"\#(source)","type":"t","subject":"c","time":"2026-03-01T11:00:00Z","data":{"model":\#(v.json)}}"#
            let useFirst = g.next() % 2 == 0
            let (event, readings) = try Array(text.utf8).withUnsafeBytes { b in
                if useFirst {
                    let e = try first.parse(b, nowMicros: 1 << 60)
                    return (e, first.readings)
                }
                let e = try second.parse(b, nowMicros: 1 << 60)
                return (e, second.readings)
            }
            let unescapedSource = source.replacingOccurrences(of: #"\u0061"#, with: "a")
            #expect(event.identity == ShortHashMemoTests.identity(unescapedSource, "e-\(i)"), "seed \(seed), event \(i): \(text)")
            #expect(readings.count == 2 && readings.allSatisfy { $0.dimensionsHash == ShortHashMemoTests.dimensions(v.text) },
                    "seed \(seed), event \(i): \(text)")
        }
    }

    /// Keys are read as whole words ending at the value's end: a value ending in a buffer's first 8 bytes has no
    /// key (the parser hashes it directly), the others keep exactly their bytes.
    @Test func keysReadOnlyTheirBytes() {
        let text = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        text.withUnsafeBytes { b in
            #expect(ShortHashMemo.key(b, 0, 2, namespace: 0) == nil)
            #expect(ShortHashMemo.key(b, 3, 3, namespace: 0) != nil)
            #expect(ShortHashMemo.key(b, 0, 17, namespace: 0) == nil)
            #expect(ShortHashMemo.key(b, 20, 27, namespace: 0) == nil)
            let gh = ShortHashMemo.key(b, 6, 8, namespace: 0)
            #expect(gh?.w0 == UInt64(0x6867) && gh?.w1 == 0)
            let span = ShortHashMemo.key(b, 1, 11, namespace: 3)  // "bcdefghijk"
            #expect(span?.w0 == b.loadUnaligned(fromByteOffset: 1, as: UInt64.self) && span?.w1 == UInt64(0x6B6A))
            #expect(span?.tag == (UInt64(1) << 63 | 3 << 8 | 10))
            // Same bytes elsewhere, same key; another namespace or one byte more, another key.
            #expect(ShortHashMemo.key(b, 6, 8, namespace: 0) == gh)
            #expect(ShortHashMemo.key(b, 6, 8, namespace: 1) != gh)
            #expect(ShortHashMemo.key(b, 5, 8, namespace: 0) != gh)
        }
    }
}

/// `JSONScanner.specialMask`: its lowest set bit is the first byte that is '"', '\\', below 0x20 or above 0x7F,
/// and it is zero exactly when there is none. Words of bytes drawn mostly from around those boundaries (seeded).
@Suite struct SpecialMaskTests {
    @Test func lowestBitIsTheFirstSpecialByte() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0x81, 0xA2, 0xDC, 0xFF, 0x41, 0x61]
        var failures = 0
        for _ in 0..<500_000 {
            var bytes = [UInt8](repeating: 0, count: 8)
            for i in 0..<8 {
                bytes[i] = g.next() % 4 == 0 ? UInt8(truncatingIfNeeded: g.next()) : interesting[Int(g.next() % UInt64(interesting.count))]
                if g.next() % 3 != 0 { bytes[i] = UInt8(0x41 + g.next() % 26) }   // plain letters, mostly
            }
            let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            let first = bytes.firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || $0 >= 0x80 }
            let m = JSONScanner.specialMask(UInt64(littleEndian: w))
            let found = m == 0 ? nil : m.trailingZeroBitCount >> 3
            if found != first { failures += 1; if failures < 5 { Issue.record("seed \(seed): bytes \(bytes): mask says \(String(describing: found)), first special \(String(describing: first))") } }
        }
        #expect(failures == 0, "seed \(seed)")
    }

    /// `specialMask16` marks exactly the special bytes of 16, and `plainStringEnd` (which steps 16 bytes at a time)
    /// finds the first one, and only a quote ends a string: strings of 0...40 bytes with a special byte, or none, at
    /// every position, the buffer ending right after the string or with room to spare.
    @Test func sixteenByteStepsFindTheFirstSpecialByte() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        let special: [UInt8] = [0x00, 0x01, 0x1F, 0x22, 0x5C, 0x80, 0x81, 0xA2, 0xDC, 0xFF]
        let plain: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7E, 0x7F, 0x41, 0x61, 0x30]
        func isSpecial(_ c: UInt8) -> Bool { c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 }
        var failures = 0
        for round in 0..<200_000 {
            let n = Int(g.next() % 41)
            var bytes = (0..<n).map { _ in plain[Int(g.next() % UInt64(plain.count))] }
            if n > 0 && g.next() % 4 != 0 { bytes[Int(g.next() % UInt64(n))] = special[Int(g.next() % UInt64(special.count))] }
            bytes += Array(repeating: plain[0], count: Int(g.next() % 20))
            bytes.withUnsafeBytes { b in
                if b.count >= 16 {
                    let (m0, m1) = JSONScanner.specialMask16(b, 0)
                    let want = (0..<16).map { isSpecial(b[$0]) ? UInt8(0xFF) : 0 }
                    let got = (0..<8).map { UInt8(truncatingIfNeeded: m0 >> (8 * UInt64($0))) } + (0..<8).map { UInt8(truncatingIfNeeded: m1 >> (8 * UInt64($0))) }
                    if got != want { failures += 1; if failures < 5 { Issue.record("seed \(seed) round \(round): mask of \(Array(b.prefix(16)))") } }
                }
                let first = b.firstIndex(where: isSpecial)
                let want = first.flatMap { b[$0] == 0x22 ? $0 : nil }
                let got = EventParser.plainStringEnd(b, 0)
                if got != want { failures += 1; if failures < 5 { Issue.record("seed \(seed) round \(round): end \(String(describing: got)), want \(String(describing: want)) in \(Array(b))") } }
            }
        }
        #expect(failures == 0, "seed \(seed)")
    }
}
