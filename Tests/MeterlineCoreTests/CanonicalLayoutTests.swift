import Testing
@testable import MeterlineCore

// The canonical-layout fast path of the parser must be invisible: where it answers, it answers exactly what the
// general member loop answers (the same ranges, readings, hashes, or the same rejection and message).

@Suite struct CanonicalLayoutTests {
    /// Events in the producer's usual layout, as the fast path is meant to take them.
    static let canonical: [String] = [
        Fixture.event(),
        #"{"specversion":"1.0","id":"0f3a9c1e-77b2-4d0e-9a51-3c2b1d0e9f88","source":"llm-proxy","type":"llm_tokens","subject":"us-cust-4711","time":"2026-02-28T23:59:59.123456Z","datacontenttype":"application/json","data":{"tokens":"1500","model":"large"}}"#,
        #"{"specversion":"1.0","id":"a","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00+01:00","data":{}}"#,
        #"{"specversion":"1.0","id":"e2","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{"method":"GET","ok":true,"retry":false,"note":null,"n":-0.5e3}}"#,
        #"{"specversion":"1.0","id":"e3","source":"s","type":"user_seen","subject":"c","time":"2026-03-01T11:00:00Z","data":{"user":"u-1"}}"#,
        #"{"specversion":"1.0","id":"e4","source":"s","type":"llm_tokens","subject":"c","time":"2026-03-01T11:00:00Z","data":{"a":1,"a b":2,"tokens":3E2,"x":"y"}}"#,
    ]

    /// The fast path's answer: nil when it declined, else the parse or the rejection, rendered with every field.
    /// With `head`, the parse is given the router's `canonicalHead` of the bytes (none when it finds none).
    static func fast(_ bytes: [UInt8], _ parser: inout EventParser, head: Bool = false) -> String? {
        bytes.withUnsafeBytes { b in
            do throws(Rejection) {
                let h = head ? EventParser.canonicalHead(b) : nil
                guard let e = try parser.parseCanonical(b, nowMicros: Fixture.now, head: h) else { return nil }
                return render(b, e, parser)
            } catch {
                return "rejected \(error.reason.code): \(error.message)"
            }
        }
    }

    static func general(_ bytes: [UInt8], _ parser: inout EventParser) -> String {
        bytes.withUnsafeBytes { b in
            do throws(Rejection) {
                return render(b, try parser.parseGeneral(b, nowMicros: Fixture.now), parser)
            } catch {
                return "rejected \(error.reason.code): \(error.message)"
            }
        }
    }

    static func render(_ b: UnsafeRawBufferPointer, _ e: ParsedEvent, _ parser: EventParser) -> String {
        "\(e) \(Fixture.outcome(b, e, parser))"
    }

    @Test func canonicalEventsTakeTheFastPathAndMatchTheGeneralOne() {
        var fastParser = EventParser(catalog: Fixture.catalog)
        var generalParser = EventParser(catalog: Fixture.catalog)
        for text in CanonicalLayoutTests.canonical {
            let bytes = Array(text.utf8)
            let f = CanonicalLayoutTests.fast(bytes, &fastParser)
            #expect(f != nil, "declined: \(text)")
            #expect(f?.hasPrefix("rejected") == false, "\(f ?? "")")
            #expect(f == CanonicalLayoutTests.general(bytes, &generalParser), "\(text)")
            #expect(CanonicalLayoutTests.fast(bytes, &fastParser, head: true) == f, "with the router's head: \(text)")
            bytes.withUnsafeBytes { b in
                let peek = EventParser.canonicalSubjectHash(b)
                #expect(peek != nil && peek == EventParser.peekSubjectHashGeneral(b), "\(text)")
                #expect(EventParser.canonicalHead(b)?.subjectHash == peek, "\(text)")
            }
        }
    }

    @Test func deviationsFromTheLayoutAreDeclined() {
        var parser = EventParser(catalog: Fixture.catalog)
        let declined = [
            #"{ "specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{}}"#,
            #"{"specversion":"1.0","id":"e\u0041","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{}}"#,
            #"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"ü","time":"2026-03-01T11:00:00Z","data":{}}"#,
            #"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{"n":{"b":1}}}"#,
            #"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{"a": 1}}"#,
            #"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{}} "#,
            #"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","dataschema":"x","data":{}}"#,
            #"{"id":"e","specversion":"1.0","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{}}"#,
        ]
        for text in declined {
            #expect(CanonicalLayoutTests.fast(Array(text.utf8), &parser) == nil, "\(text)")
        }
        // Limits the general path enforces before anything else are left to it.
        var limits = EventLimits()
        limits.maxMessageBytes = 64
        var small = EventParser(catalog: Fixture.catalog, limits: limits)
        #expect(CanonicalLayoutTests.fast(Array(CanonicalLayoutTests.canonical[0].utf8), &small) == nil)
        // A head is only made for messages under 64 KiB (its ends are 16-bit); the peek still finds the subject.
        let long = Array(#"{"specversion":"1.0","id":"e","source":"s","type":"api_request","subject":"c","time":"2026-03-01T11:00:00Z","data":{"note":"\#(String(repeating: "x", count: 70_000))"}}"#.utf8)
        long.withUnsafeBytes { b in
            #expect(EventParser.canonicalHead(b) == nil)
            #expect(EventParser.canonicalSubjectHash(b) != nil && EventParser.canonicalSubjectHash(b) == EventParser.peekSubjectHashGeneral(b))
        }
    }

    /// Randomized differential test: canonical events with bytes replaced, inserted, deleted, or cut off. Wherever
    /// the fast path answers, its answer must equal the general path's; the same for the routing peek.
    @Test func mutatedEventsGetTheGeneralPathsAnswer() {
        let seed = testSeed(default: 0xCA70_0001)
        var g = SeededGenerator(seed: seed)
        let interesting: [UInt8] = Array(#""\,:{}[] .-+eE0159aftnulZTz"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xBC, 0xFF]
        var fastParser = EventParser(catalog: Fixture.catalog)
        var generalParser = EventParser(catalog: Fixture.catalog)
        var answered = 0, declined = 0, rejected = 0, failures = 0
        for round in 0..<20_000 {
            var bytes = Array(CanonicalLayoutTests.canonical[Int(g.next() % UInt64(CanonicalLayoutTests.canonical.count))].utf8)
            for _ in 0..<(1 + Int(g.next() % 3)) {
                let at = Int(g.next() % UInt64(bytes.count + 1))
                let b = interesting[Int(g.next() % UInt64(interesting.count))]
                switch g.next() % 4 {
                case 0: if at < bytes.count { bytes[at] = b }
                case 1: bytes.insert(b, at: at)
                case 2: if at < bytes.count { bytes.remove(at: at) }
                default: if g.next() % 8 == 0 { bytes.removeLast(bytes.count - at) } else { bytes.insert(b, at: at) }
                }
            }
            let f = CanonicalLayoutTests.fast(bytes, &fastParser)
            // The router's head, where it finds one, changes nothing (not even where the parse declines or rejects).
            let withHead = CanonicalLayoutTests.fast(bytes, &fastParser, head: true)
            if withHead != f {
                failures += 1
                Issue.record("seed \(seed) round \(round): with the head \(withHead ?? "declined"), without \(f ?? "declined"): \(String(decoding: bytes, as: UTF8.self))")
            }
            let headHash = bytes.withUnsafeBytes { EventParser.canonicalHead($0)?.subjectHash }
            if let headHash, headHash != bytes.withUnsafeBytes({ EventParser.peekSubjectHashGeneral($0) }) {
                failures += 1
                Issue.record("seed \(seed) round \(round): the head's subject hash differs for \(String(decoding: bytes, as: UTF8.self))")
            }
            let peekFast = bytes.withUnsafeBytes { EventParser.canonicalSubjectHash($0) }
            let peekGeneral = bytes.withUnsafeBytes { EventParser.peekSubjectHashGeneral($0) }
            if let peekFast, peekFast != peekGeneral {
                failures += 1
                Issue.record("seed \(seed) round \(round): peek differs for \(String(decoding: bytes, as: UTF8.self))")
            }
            guard let f else { declined += 1; continue }
            answered += 1
            if f.hasPrefix("rejected") { rejected += 1 }
            let expected = CanonicalLayoutTests.general(bytes, &generalParser)
            if f != expected {
                failures += 1
                Issue.record("seed \(seed) round \(round): \(String(decoding: bytes, as: UTF8.self))\nfast:    \(f)\ngeneral: \(expected)")
            }
            if failures > 5 { break }
        }
        // Both sides of the fast path must have been exercised, or the test shows nothing.
        #expect(answered > 1_000 && declined > 1_000 && rejected > 100,
                "seed \(seed): answered \(answered), declined \(declined), rejected \(rejected)")
    }
}
