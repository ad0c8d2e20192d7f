import Testing
@testable import MeterlineConfig
@testable import MeterlineCore

// DESIGN §2 (CloudEvents 1.0 input, limits) and §3 (meters, values, BAD_VALUE / UNKNOWN_METER).

/// What a test needs from a parse, decoded while the buffer is alive.
struct ParseOutcome {
    var id, source, type, subject: String
    var timeMicros: Int64
    var identity: Hash128
    var subjectHash: Hash128
    var typeIndex: Int
    var readings: [MeterReading]
    /// Per reading: the meter's groupBy dimensions as strings.
    var dimensions: [[String]]
}

enum Fixture {
    static let now = utc("2026-03-01T12:00:00Z")

    static func path(_ s: String) -> JSONPath { try! JSONPath(s) }

    /// Meter indexes, in catalog order.
    static let tokens = 0, calls = 1, users = 2, pDot = 3, pNested = 4, pQuoted = 5, pIndex = 6, tokensMax = 7
    static let meters: [Meter] = [
        Meter(slug: "tokens", eventType: "llm_tokens", aggregation: .sum, valueProperty: path("$.tokens"),
              groupBy: [("region", path("$.region")), ("model", path("$.model"))]),
        Meter(slug: "calls", eventType: "api_request", aggregation: .count, valueProperty: nil,
              groupBy: [("method", path("$.method"))]),
        Meter(slug: "users", eventType: "user_seen", aggregation: .uniqueCount, valueProperty: path("$.user")),
        Meter(slug: "p_dot", eventType: "paths", aggregation: .sum, valueProperty: path("$.a")),
        Meter(slug: "p_nested", eventType: "paths", aggregation: .sum, valueProperty: path("$.n.b")),
        Meter(slug: "p_quoted", eventType: "paths", aggregation: .sum, valueProperty: path(#"$["a b"]"#)),
        Meter(slug: "p_index", eventType: "paths", aggregation: .sum, valueProperty: path("$.arr[1]")),
        Meter(slug: "tokens_max", eventType: "llm_tokens", aggregation: .max, valueProperty: path("$.tokens")),
    ]
    static let catalog = MeterCatalog(meters)

    static let baseFields: [(String, String)] = [
        ("specversion", #""1.0""#),
        ("id", #""evt-1""#),
        ("source", #""//api.example.com""#),
        ("type", #""llm_tokens""#),
        ("subject", #""cust-42""#),
        ("time", #""2026-03-01T11:00:00Z""#),
        ("data", #"{"tokens":1500,"model":"large","region":"eu"}"#),
    ]

    /// A structured event: the base fields with `changes` applied (raw JSON values; nil removes the member).
    static func event(_ changes: [String: String?] = [:]) -> String {
        var parts: [String] = []
        for (k, v) in baseFields {
            if let change = changes[k] {
                if let c = change { parts.append("\"\(k)\":\(c)") }
            } else {
                parts.append("\"\(k)\":\(v)")
            }
        }
        for (k, v) in changes where !baseFields.contains(where: { $0.0 == k }) {
            if let v { parts.append("\"\(k)\":\(v)") }
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func data(_ json: String) -> String { event(["data": json]) }

    static func outcome(_ b: UnsafeRawBufferPointer, _ e: ParsedEvent, _ parser: EventParser) -> ParseOutcome {
        ParseOutcome(
            id: EventParser.string(b, e.id), source: EventParser.string(b, e.source), type: EventParser.string(b, e.type),
            subject: EventParser.string(b, e.subject), timeMicros: e.timeMicros, identity: e.identity, subjectHash: e.subjectHash,
            typeIndex: e.typeIndex, readings: parser.readings,
            dimensions: parser.readings.map { r in
                EventParser.dimensions(b, data: e.data, meter: parser.catalog.meters[r.meterIndex]).map { "\($0.0)=\($0.1)" }
            })
    }

    static func parse(_ bytes: [UInt8], parser: inout EventParser, now: Int64 = Fixture.now) -> Result<ParseOutcome, Rejection> {
        bytes.withUnsafeBytes { b in
            do throws(Rejection) {
                let e = try parser.parse(b, nowMicros: now)
                return .success(outcome(b, e, parser))
            } catch {
                return .failure(error)
            }
        }
    }

    static func parse(_ text: String, limits: EventLimits = EventLimits(), now: Int64 = Fixture.now) -> Result<ParseOutcome, Rejection> {
        var parser = EventParser(catalog: catalog, limits: limits)
        return parse(Array(text.utf8), parser: &parser, now: now)
    }

    static func parse(bytes: [UInt8]) -> Result<ParseOutcome, Rejection> {
        var parser = EventParser(catalog: catalog)
        return parse(bytes, parser: &parser)
    }

    static func reason(_ r: Result<ParseOutcome, Rejection>) -> RejectReason? {
        if case .failure(let f) = r { return f.reason }
        return nil
    }

    static func accepted(_ r: Result<ParseOutcome, Rejection>, sourceLocation: SourceLocation = #_sourceLocation) throws -> ParseOutcome {
        switch r {
        case .success(let o): return o
        case .failure(let f):
            Issue.record("rejected: \(f.reason.code) \(f.message)", sourceLocation: sourceLocation)
            throw f
        }
    }
}

@Suite struct EventParserAcceptTests {
    @Test func validStructuredEvent() throws {
        let text = Fixture.event(["time": #""2026-03-01T13:00:00.123456+02:00""#])
        let o = try Fixture.accepted(Fixture.parse(text))
        #expect(o.id == "evt-1")
        #expect(o.source == "//api.example.com")
        #expect(o.type == "llm_tokens")
        #expect(o.subject == "cust-42")
        #expect(o.timeMicros == utc("2026-03-01T11:00:00.123456Z"))
        #expect(o.typeIndex == 0)
        // Both meters on llm_tokens read the event, in catalog order.
        #expect(o.readings.map(\.meterIndex) == [Fixture.tokens, Fixture.tokensMax])
        #expect(o.readings.map(\.value) == [q("1500"), q("1500")])
        #expect(o.dimensions[0] == ["model=large", "region=eu"])    // canonical (sorted) order
        #expect(o.dimensions[1] == [])
        // Whitespace everywhere JSON allows it, members in any order, unknown members ignored.
        let spaced = " \n{ \"data\" : { \"region\" : \"eu\" , \"model\" : \"large\", \"tokens\" : 1500 } ,\t\"time\":\"2026-03-01T11:00:00.123456Z\",\r\n"
            + "\"subject\":\"cust-42\",\"type\":\"llm_tokens\",\"source\":\"//api.example.com\",\"id\":\"evt-1\",\"specversion\":\"1.0\","
            + "\"datacontenttype\":\"application/json\",\"extension\":{\"x\":[1,2,{\"y\":null}]}} \n"
        let s = try Fixture.accepted(Fixture.parse(spaced))
        #expect(s.identity == o.identity)
        #expect(s.readings == o.readings)
        #expect(s.timeMicros == o.timeMicros)
    }

    @Test func identityIsSourceAndId() throws {
        let a = try Fixture.accepted(Fixture.parse(Fixture.event()))
        let again = try Fixture.accepted(Fixture.parse(Fixture.event()))
        #expect(a.identity == again.identity)
        #expect(a.subjectHash == again.subjectHash)
        // Other attributes do not change the identity.
        let other = try Fixture.accepted(Fixture.parse(Fixture.event(["subject": #""cust-7""#, "time": #""2026-03-01T10:00:00Z""#,
                                                                     "data": #"{"tokens":1}"#])))
        #expect(other.identity == a.identity)
        #expect(other.subjectHash != a.subjectHash)
        // The same id from another source is another event, and vice versa.
        let otherSource = try Fixture.accepted(Fixture.parse(Fixture.event(["source": #""//other""#])))
        let otherId = try Fixture.accepted(Fixture.parse(Fixture.event(["id": #""evt-2""#])))
        #expect(otherSource.identity != a.identity)
        #expect(otherId.identity != a.identity)
        // Field boundaries matter: ("ab", "c") ≠ ("a", "bc").
        let x = try Fixture.accepted(Fixture.parse(Fixture.event(["source": #""ab""#, "id": #""c""#])))
        let y = try Fixture.accepted(Fixture.parse(Fixture.event(["source": #""a""#, "id": #""bc""#])))
        #expect(x.identity != y.identity)
        // Escapes are resolved before hashing: "evt\u002d1" is "evt-1".
        let escaped = try Fixture.accepted(Fixture.parse(Fixture.event(["id": #""evt\u002d1""#, "source": #""\/\/api.example.com""#])))
        #expect(escaped.identity == a.identity)
        #expect(escaped.id == "evt-1")
        #expect(escaped.source == "//api.example.com")
    }

    @Test(arguments: [
        ("1500", "1500"),
        (#""250""#, "250"),
        ("2.5e3", "2500"),
        ("2.5E+3", "2500"),
        (#""2.5e3""#, "2500"),
        ("25e-1", "2.5"),
        ("0", "0"),
        ("-0", "0"),
        ("-3.25", "-3.25"),
        ("0.000000001", "0.000000001"),
        ("1.0000000000", "1"),
        (#""0.10""#, "0.1"),
        (#""\u0032\u0035""#, "25"),     // an escaped numeric string
    ])
    func valuesAsNumbersAndNumericStrings(json: String, expected: String) throws {
        let o = try Fixture.accepted(Fixture.parse(Fixture.data(#"{"tokens":\#(json)}"#)))
        #expect(o.readings.first?.value == q(expected), "tokens: \(json)")
    }

    @Test func countMeterNeedsNoValueNorData() throws {
        let withData = try Fixture.accepted(Fixture.parse(Fixture.event(["type": #""api_request""#, "data": #"{"method":"GET"}"#])))
        #expect(withData.readings.map(\.value) == [q("1")])
        #expect(withData.dimensions == [["method=GET"]])
        let noData = try Fixture.accepted(Fixture.parse(Fixture.event(["type": #""api_request""#, "data": nil])))
        #expect(noData.readings.map(\.value) == [q("1")])
        #expect(noData.readings[0].dimensionsHash != withData.readings[0].dimensionsHash)
    }

    @Test func escapesAndSurrogatePairsInStrings() throws {
        let o = try Fixture.accepted(Fixture.parse(Fixture.event([
            "subject": #""caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t""#,
            "type": #""llm\u005ftokens""#,                      // escaped type still finds its meter
        ])))
        #expect(o.subject == "café 😀 \"q\" \\ / \u{08}\u{0C}\n\r\t")
        #expect(o.type == "llm_tokens")
        #expect(o.typeIndex == 0)
        #expect(o.readings.count == 2)
        // Raw UTF-8 is accepted too and hashes like its escaped form.
        let raw = try Fixture.accepted(Fixture.parse(Fixture.event(["subject": "\"café 😀\""])))
        let esc = try Fixture.accepted(Fixture.parse(Fixture.event(["subject": #""caf\u00E9 \uD83D\uDE00""#])))
        #expect(raw.subject == "café 😀")
        #expect(raw.subjectHash == esc.subjectHash)
        // A type escaped to the same length as a different meter's name does not match it.
        let fullyEscaped = try Fixture.accepted(Fixture.parse(Fixture.event(["type": #""\u006c\u006c\u006d\u005f\u0074\u006f\u006b\u0065\u006e\u0073""#])))
        #expect(fullyEscaped.typeIndex == 0)
    }

    @Test func jsonPathForms() throws {
        let text = Fixture.event(["type": #""paths""#,
                                  "data": #"{"a":1,"n":{"x":0,"b":2},"a b":3,"arr":[10,20,30],"a.b":99}"#])
        let o = try Fixture.accepted(Fixture.parse(text))
        #expect(o.readings.map(\.meterIndex) == [Fixture.pDot, Fixture.pNested, Fixture.pQuoted, Fixture.pIndex])
        #expect(o.readings.map(\.value) == [q("1"), q("2"), q("3"), q("20")])
        // Each path's target missing → BAD_VALUE (the event must be valid for every meter of its type).
        for broken in [#"{"n":{"b":2},"a b":3,"arr":[10,20]}"#,             // no $.a
                       #"{"a":1,"n":{"c":2},"a b":3,"arr":[10,20]}"#,       // no $.n.b
                       #"{"a":1,"n":{"b":2},"ab":3,"arr":[10,20]}"#,        // no $["a b"]
                       #"{"a":1,"n":{"b":2},"a b":3,"arr":[10]}"#,          // no $.arr[1]
                       #"{"a":1,"n":[2],"a b":3,"arr":[10,20]}"#,           // $.n is not an object
                       #"{"a":1,"n":{"b":2},"a b":3,"arr":{"1":20}}"#] {    // $.arr is not an array
            #expect(Fixture.reason(Fixture.parse(Fixture.event(["type": #""paths""#, "data": broken]))) == .badValue, "\(broken)")
        }
    }

    @Test func jsonPathParsing() throws {
        #expect(try JSONPath("$.a").segments == [.key(Array("a".utf8))])
        #expect(try JSONPath("$.a.b").segments == [.key(Array("a".utf8)), .key(Array("b".utf8))])
        #expect(try JSONPath(#"$["a b"]"#).segments == [.key(Array("a b".utf8))])
        #expect(try JSONPath("$['a b']").segments == [.key(Array("a b".utf8))])
        #expect(try JSONPath("$.a[1]").segments == [.key(Array("a".utf8)), .index(1)])
        #expect(try JSONPath("$[0].x").segments == [.index(0), .key(Array("x".utf8))])
        for bad in ["", "$", "a", "$.", "$..a", "$[", "$[]", "$[x]", #"$["a"#, "$.a[1", "$ .a"] {
            #expect(throws: DecimalError.self, "\(bad)") { try JSONPath(bad) }
        }
    }

    @Test func groupByDimensionsHash() throws {
        func dims(_ data: String) throws -> Hash128 {
            try Fixture.accepted(Fixture.parse(Fixture.data(data))).readings[0].dimensionsHash
        }
        let base = try dims(#"{"tokens":1,"model":"large","region":"eu"}"#)
        // Equal values → equal hash, whatever the member order, value or escapes.
        #expect(try dims(#"{"region":"eu","tokens":7,"model":"large"}"#) == base)
        #expect(try dims(#"{"tokens":1,"model":"l\u0061rge","region":"eu","other":"x"}"#) == base)
        // Different values → different hash.
        #expect(try dims(#"{"tokens":1,"model":"small","region":"eu"}"#) != base)
        #expect(try dims(#"{"tokens":1,"model":"large","region":"us"}"#) != base)
        #expect(try dims(#"{"tokens":1,"model":"eu","region":"large"}"#) != base)   // swapped values
        #expect(try dims(#"{"tokens":1,"model":"large"}"#) != base)                 // region absent
        #expect(try dims(#"{"tokens":1,"model":"larg","region":"eeu"}"#) != base)   // shifted boundary
        // Absent and null dimensions are the same (both omitted from the dimensions).
        #expect(try dims(#"{"tokens":1,"model":"large"}"#) == dims(#"{"tokens":1,"model":"large","region":null}"#))
        // Non-scalar dimension values are rejected.
        #expect(Fixture.reason(Fixture.parse(Fixture.data(#"{"tokens":1,"model":{"n":"large"}}"#))) == .badValue)
    }

    /// UNIQUE_COUNT keys a value by its string form; a number by its canonical decimal form.
    @Test func uniqueCountKeys() throws {
        func key(_ v: String) throws -> Hash128 {
            try Fixture.accepted(Fixture.parse(Fixture.event(["type": #""user_seen""#, "data": #"{"user":\#(v)}"#]))).readings[0].uniqueKey
        }
        #expect(try key("5") == key(#""5""#))
        #expect(try key("5.0") == key("5"))
        #expect(try key("5e0") == key("5"))
        #expect(try key(#""5.0""#) != key("5"))
        #expect(try key(#""alice""#) != key(#""bob""#))
        #expect(try key(#""al\u0069ce""#) == key(#""alice""#))
        #expect(try key(#""abc""#) != .zero)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["type": #""user_seen""#, "data": #"{"user":null}"#]))) == .badValue)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["type": #""user_seen""#, "data": #"{"user":true}"#]))) == .badValue)
    }

    @Test func parserIsReusableAfterRejections() throws {
        var parser = EventParser(catalog: Fixture.catalog)
        #expect(Fixture.reason(Fixture.parse(Array("{".utf8), parser: &parser)) == .malformedJSON)
        #expect(Fixture.reason(Fixture.parse(Array(Fixture.data(#"{"tokens":null}"#).utf8), parser: &parser)) == .badValue)
        let ok = try Fixture.accepted(Fixture.parse(Array(Fixture.event().utf8), parser: &parser))
        #expect(ok.readings.count == 2)
        let count = try Fixture.accepted(Fixture.parse(Array(Fixture.event(["type": #""api_request""#]).utf8), parser: &parser))
        #expect(count.readings.map(\.meterIndex) == [Fixture.calls])
    }
}

@Suite struct EventParserRejectTests {
    static let malformedCases: [(String, String)] = {
        var c: [(String, String)] = []
        c.append(("truncated", String(Fixture.event().dropLast())))
        c.append(("truncated in a string", String(Fixture.event().prefix(40))))
        c.append(("truncated in data", String(Fixture.event().dropLast(3))))
        c.append(("empty", ""))
        c.append(("whitespace", "  \n"))
        c.append(("not an object", "[]"))
        c.append(("a number", "42"))
        c.append(("null", "null"))
        c.append(("trailing garbage", Fixture.event() + "x"))
        c.append(("two objects", Fixture.event() + Fixture.event()))
        c.append(("trailing comma", String(Fixture.event().dropLast()) + ",}"))
        c.append(("bad escape", Fixture.event(["id": #""evt\x1""#])))
        c.append(("bad \\u escape", Fixture.event(["id": #""evt\u12G4""#])))
        c.append(("truncated \\u escape", Fixture.event(["id": #""evt\u12""#])))
        c.append(("unpaired high surrogate", Fixture.event(["subject": #""a\ud800b""#])))
        c.append(("high surrogate then non-low", Fixture.event(["subject": #""a\ud800\u0041""#])))
        c.append(("lone low surrogate", Fixture.event(["subject": #""a\udc00""#])))
        c.append(("control character in string", Fixture.event(["id": "\"evt\u{01}1\""])))
        c.append(("raw newline in string", Fixture.event(["subject": "\"a\nb\""])))
        c.append(("raw tab in string", Fixture.event(["data": "{\"tokens\":1,\"model\":\"a\tb\"}"])))
        c.append(("duplicate id", Fixture.event(["extra": #""x","id":"evt-2""#])))
        c.append(("duplicate escaped id", Fixture.event(["extra": #""x","\u0069d":"evt-2""#])))
        c.append(("duplicate data", Fixture.event(["extra": #""x","data":{}"#])))
        c.append(("unquoted key", Fixture.event(["extra": "1,oops:2"])))
        c.append(("single quotes", Fixture.event(["id": "'evt-1'"])))
        c.append(("NaN", Fixture.data(#"{"tokens":NaN}"#)))
        c.append(("leading zero", Fixture.data(#"{"tokens":01}"#)))
        c.append(("plus sign", Fixture.data(#"{"tokens":+1}"#)))
        c.append(("bare point", Fixture.data(#"{"tokens":1.}"#)))
        c.append(("bare exponent", Fixture.data(#"{"tokens":1e}"#)))
        c.append(("trailing comma in data", Fixture.data(#"{"tokens":1,}"#)))
        c.append(("trailing comma in array", Fixture.data(#"{"tokens":1,"a":[1,]}"#)))
        c.append(("missing colon", Fixture.data(#"{"tokens" 1}"#)))
        c.append(("bad literal", Fixture.data(#"{"tokens":1,"x":tru}"#)))
        c.append(("unterminated data", Fixture.event(["data": #"{"tokens":1"#])))
        c.append(("comment", Fixture.event() + " // note"))
        return c
    }()

    @Test(arguments: malformedCases)
    func malformedJSON(name: String, text: String) {
        let r = Fixture.parse(text)
        #expect(Fixture.reason(r) == .malformedJSON, "\(name): \(text)")
    }

    @Test(arguments: [
        ("0xFF", [0xFF] as [UInt8]),
        ("overlong NUL", [0xC0, 0x80]),
        ("overlong slash", [0xE0, 0x80, 0xAF]),
        ("UTF-16 surrogate", [0xED, 0xA0, 0x80]),
        ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
        ("lone continuation", [0x80]),
        ("truncated sequence", [0xE2, 0x82]),
        ("5-byte form", [0xF8, 0x88, 0x80, 0x80, 0x80]),
    ] as [(String, [UInt8])])
    func invalidUTF8(name: String, bytes: [UInt8]) {
        let before = Array(Fixture.event(["subject": "\"cust-@@\""]).utf8)
        let at = before.firstIndex(of: UInt8(ascii: "@"))!
        var message = before
        message.replaceSubrange(at..<(at + 2), with: bytes)
        #expect(Fixture.reason(Fixture.parse(bytes: message)) == .malformedJSON, "\(name)")
        // Invalid UTF-8 in a data key, too.
        let d = Array(Fixture.data(#"{"tokens":1,"k@@":2}"#).utf8)
        let at2 = d.firstIndex(of: UInt8(ascii: "@"))!
        var m2 = d
        m2.replaceSubrange(at2..<(at2 + 2), with: bytes)
        #expect(Fixture.reason(Fixture.parse(bytes: m2)) == .malformedJSON, "\(name) in data")
    }

    @Test func validMultibyteUTF8IsAccepted() {
        // 2-, 3- and 4-byte sequences at their range edges.
        for s in ["\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}"] {
            #expect(Fixture.reason(Fixture.parse(Fixture.event(["subject": "\"x\(s)y\""]))) == nil, "U+\(String(s.unicodeScalars.first!.value, radix: 16))")
        }
    }

    @Test(arguments: ["specversion", "id", "source", "type", "subject", "time"])
    func missingField(name: String) {
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: nil]))) == .missingField, "without \(name)")
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: "null"]))) == .missingField, "\(name): null")
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: #""""#]))) == .missingField, "\(name): \"\"")
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: "42"]))) == .missingField, "\(name): 42")
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: #"{"v":"x"}"#]))) == .missingField, "\(name): {}")
    }

    @Test func emptyObjectIsMissingFields() {
        #expect(Fixture.reason(Fixture.parse("{}")) == .missingField)
        #expect(Fixture.reason(Fixture.parse(" { } ")) == .missingField)
    }

    @Test func badSpecVersion() {
        for v in [#""0.3""#, #""1""#, #""1.0 ""#, #""1.00""#, #""2.0""#] {
            let r = Fixture.parse(Fixture.event(["specversion": v]))
            #expect(Fixture.reason(r) == .badSpecVersion, "specversion \(v)")
        }
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["specversion": #""1\u002e0""#]))) == nil)
    }

    @Test(arguments: [
        "2026-02-30T10:00:00Z",        // Feb 30
        "2026-03-01T24:00:00Z",        // hour 24
        "2016-12-31T23:59:60Z",        // leap second
        "2026-03-01T10:00:00.1234567890Z", // 10 fractional digits
        "2026-03-01T10:00:00",         // no offset
        "2026-03-01",                  // date only
        "yesterday",
        "1772359200",                  // epoch seconds as a string
    ])
    func badTime(time: String) {
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": "\"\(time)\""]))) == .badTime, "\(time)")
    }

    @Test func futureTime() {
        let limit = Fixture.now + EventLimits().maxFutureMicros
        let atLimit = RFC3339.format(micros: limit)
        let past = RFC3339.format(micros: limit + 1)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": "\"\(atLimit)\""]))) == nil)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": "\"\(past)\""]))) == .futureTime)
        // Judged against the nowMicros passed in, not the clock.
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": "\"\(past)\""]), now: Fixture.now + 1)) == nil)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(), now: utc("2026-03-01T10:54:59Z"))) == .futureTime)
        // Offsets are applied before the comparison: 12:06+02:00 is 10:06Z, in the past.
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": #""2026-03-01T12:06:00+02:00""#]))) == nil)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": #""2026-03-01T12:06:00Z""#]))) == .futureTime)
        var limits = EventLimits()
        limits.maxFutureMicros = 0
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": #""2026-03-01T12:00:00.000001Z""#]), limits: limits)) == .futureTime)
    }

    @Test func unknownMeter() {
        for t in [#""llm_token""#, #""LLM_TOKENS""#, #""llm_tokens ""#, #""llm\u005ftoken""#, #""paths.a""#] {
            let r = Fixture.parse(Fixture.event(["type": t]))
            #expect(Fixture.reason(r) == .unknownMeter, "type \(t)")
        }
        if case .failure(let f) = Fixture.parse(Fixture.event(["type": #""llm_token""#])) {
            #expect(f.message.contains("llm_token"))
        }
    }

    @Test(arguments: [
        ("null", #"{"tokens":null}"#),
        ("true", #"{"tokens":true}"#),
        ("false", #"{"tokens":false}"#),
        ("non-numeric string", #"{"tokens":"abc"}"#),
        ("empty string", #"{"tokens":""}"#),
        ("NaN string", #"{"tokens":"NaN"}"#),
        ("padded string", #"{"tokens":" 5"}"#),
        ("missing value property", #"{"model":"large"}"#),
        ("10 decimals", #"{"tokens":0.0000000001}"#),
        ("10 decimals as string", #"{"tokens":"0.0000000001"}"#),
        ("too large", #"{"tokens":1e40}"#),
        ("object value", #"{"tokens":{"n":1}}"#),
        ("array value", #"{"tokens":[1]}"#),
        ("data not an object", #""tokens""#),
        ("data an array", #"[1500]"#),
        ("data null", "null"),
    ])
    func badValue(name: String, data: String) {
        let r = Fixture.parse(Fixture.data(data))
        #expect(Fixture.reason(r) == .badValue, "\(name)")
        if case .failure(let f) = r { #expect(f.message.contains("tokens"), "\(name): \(f.message)") }
    }

    @Test func missingDataIsBadValue() {
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["data": nil]))) == .badValue)
    }

    @Test func tooLarge() {
        let text = Fixture.event()
        var limits = EventLimits()
        limits.maxMessageBytes = text.utf8.count
        #expect(Fixture.reason(Fixture.parse(text, limits: limits)) == nil)
        limits.maxMessageBytes = text.utf8.count - 1
        #expect(Fixture.reason(Fixture.parse(text, limits: limits)) == .tooLarge)
        // Over the default 64 KiB, even if the JSON is fine.
        let padding = String(repeating: "x", count: 64 * 1024)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["pad": "\"\(padding)\""]))) == .tooLarge)
        // A message over the limit is rejected as too large before its syntax is looked at.
        limits.maxMessageBytes = 10
        #expect(Fixture.reason(Fixture.parse("{{{{{{{{{{{", limits: limits)) == .tooLarge)
    }

    @Test(arguments: ["id", "source", "subject"])
    func identifierOver256Bytes(name: String) {
        let ok = String(repeating: "a", count: 256)
        let long = String(repeating: "a", count: 257)
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: "\"\(ok)\""]))) == nil, "\(name) of 256 bytes")
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: "\"\(long)\""]))) == .tooLarge, "\(name) of 257 bytes")
        // Bytes, not characters: 129 × "é" is 258 bytes.
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: "\"\(String(repeating: "é", count: 129))\""]))) == .tooLarge)
        var limits = EventLimits()
        limits.maxIdentifierBytes = 8
        #expect(Fixture.reason(Fixture.parse(Fixture.event([name: #""abcdefghi""#]), limits: limits)) == .tooLarge)
    }

    /// The limit is on the attribute's value (DESIGN §2: ≤ 256 bytes), not on its escaped JSON spelling:
    /// 100 × "\u00e9" is 200 bytes of UTF-8 (600 bytes of JSON text).
    @Test func identifierLimitCountsDecodedBytes() throws {
        let escaped = String(repeating: #"\u00e9"#, count: 100)
        let o = try Fixture.accepted(Fixture.parse(Fixture.event(["id": "\"\(escaped)\""])))
        #expect(o.id.utf8.count == 200)
    }

    /// JSON depth ≤ 32, counting the event object itself as depth 1.
    @Test func tooDeep() {
        func nested(_ extra: Int) -> String {
            // data is depth 2; each {"n": …} adds one.
            #"{"tokens":1,"n":"# + String(repeating: #"{"n":"#, count: extra - 1) + "[]" + String(repeating: "}", count: extra - 1) + "}"
        }
        #expect(Fixture.reason(Fixture.parse(Fixture.data(nested(30)))) == nil)        // total depth 32
        #expect(Fixture.reason(Fixture.parse(Fixture.data(nested(31)))) == .tooDeep)   // total depth 33
        let arrays = "[" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "]"
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["ext": arrays]))) == .tooDeep)
        var limits = EventLimits()
        limits.maxDepth = 3
        #expect(Fixture.reason(Fixture.parse(Fixture.data(#"{"tokens":1,"a":{"b":1}}"#), limits: limits)) == nil)
        #expect(Fixture.reason(Fixture.parse(Fixture.data(#"{"tokens":1,"a":{"b":[]}}"#), limits: limits)) == .tooDeep)
        // Deep nesting does not overflow the stack: it is refused at the limit.
        let huge = String(repeating: "[", count: 60_000)
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["ext": huge]))) == .tooDeep)
    }

    /// JSON says "\u005a" and "Z" are the same string; the time attribute is a string like any other.
    @Test func escapedTimeIsAccepted() {
        #expect(Fixture.reason(Fixture.parse(Fixture.event(["time": #""2026-03-01T11:00:00\u005a""#]))) == nil)
    }

    /// Every reason the parser can produce is reachable (the others belong to later stages).
    @Test func everyParserReasonIsReachable() {
        var limits = EventLimits()
        limits.maxMessageBytes = 1000
        let cases: [(RejectReason, Result<ParseOutcome, Rejection>)] = [
            (.malformedJSON, Fixture.parse("{")),
            (.missingField, Fixture.parse(Fixture.event(["id": nil]))),
            (.badSpecVersion, Fixture.parse(Fixture.event(["specversion": #""0.3""#]))),
            (.badTime, Fixture.parse(Fixture.event(["time": #""2026-02-30T00:00:00Z""#]))),
            (.futureTime, Fixture.parse(Fixture.event(["time": #""2027-01-01T00:00:00Z""#]))),
            (.unknownMeter, Fixture.parse(Fixture.event(["type": #""nope""#]))),
            (.badValue, Fixture.parse(Fixture.data(#"{"tokens":"abc"}"#))),
            (.tooLarge, Fixture.parse(Fixture.event(["pad": "\"\(String(repeating: "x", count: 1000))\""]), limits: limits)),
            (.tooDeep, Fixture.parse(Fixture.data(#"{"tokens":1,"d":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"))),
        ]
        for (expected, r) in cases {
            #expect(Fixture.reason(r) == expected, "\(expected.code)")
        }
        #expect(Set(cases.map { $0.0.code }) == ["MALFORMED_JSON", "MISSING_FIELD", "BAD_SPECVERSION", "BAD_TIME", "FUTURE_TIME",
                                             "UNKNOWN_METER", "BAD_VALUE", "TOO_LARGE", "TOO_DEEP"])
        #expect(Set(RejectReason.allCases.map(\.code)).count == RejectReason.allCases.count)
    }
}

@Suite struct BinaryModeTests {
    /// Calls parseBinary with optional attribute buffers; decodes the result from the parser's scratch buffer.
    static func parseBinary(_ parser: inout EventParser, specversion: String? = "1.0", id: String? = "evt-1", source: String? = "//api.example.com",
                            type: String? = "llm_tokens", subject: String? = "cust-42", time: String? = "2026-03-01T13:00:00+02:00",
                            data: String = #"{"tokens":1500,"model":"large","region":"eu"}"#) -> Result<ParseOutcome, Rejection> {
        typealias R = Result<ParseOutcome, Rejection>
        func with(_ s: String?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let s else { return body(nil) }
            return Array(s.utf8).withUnsafeBytes { body($0) }
        }
        return with(specversion) { sv in with(id) { i in with(source) { so in with(type) { ty in with(subject) { su in with(time) { ti in
            Array(data.utf8).withUnsafeBytes { (d) -> R in
                do throws(Rejection) {
                    let e = try parser.parseBinary(specversion: sv, id: i, source: so, type: ty, subject: su, time: ti, data: d, nowMicros: Fixture.now)
                    return .success(parser.withScratchBytes { Fixture.outcome($0, e, parser) })
                } catch {
                    return .failure(error)
                }
            }
        } } } } } }
    }

    @Test func binaryModeMatchesStructuredMode() throws {
        var parser = EventParser(catalog: Fixture.catalog)
        let b = try Fixture.accepted(Self.parseBinary(&parser))
        let s = try Fixture.accepted(Fixture.parse(Fixture.event()))
        #expect(b.id == "evt-1")
        #expect(b.subject == "cust-42")
        #expect(b.timeMicros == utc("2026-03-01T11:00:00Z"))
        #expect(b.identity == s.identity)
        #expect(b.subjectHash == s.subjectHash)
        #expect(b.readings == s.readings)
        #expect(b.dimensions == s.dimensions)
    }

    @Test func binaryAttributesAreTakenLiterally() throws {
        var parser = EventParser(catalog: Fixture.catalog)
        // Quotes, backslashes and control characters in headers are data, not JSON.
        let o = try Fixture.accepted(Self.parseBinary(&parser, id: #"a"b\c"# + "\u{01}", subject: #"x\u0041"#))
        #expect(o.id == "a\"b\\c\u{01}")
        #expect(o.subject == #"x\u0041"#)
        // Reusing the parser: a second binary event, then a structured one, then binary again.
        let again = try Fixture.accepted(Self.parseBinary(&parser, id: "evt-2"))
        #expect(again.id == "evt-2")
        #expect(Fixture.reason(Fixture.parse(Array(Fixture.event().utf8), parser: &parser)) == nil)
        let third = try Fixture.accepted(Self.parseBinary(&parser, id: "evt-3", type: "api_request", data: ""))
        #expect(third.readings.map(\.meterIndex) == [Fixture.calls])
    }

    @Test func binaryRejections() {
        var parser = EventParser(catalog: Fixture.catalog)
        #expect(Fixture.reason(Self.parseBinary(&parser, id: nil)) == .missingField)
        #expect(Fixture.reason(Self.parseBinary(&parser, subject: "")) == .missingField)
        #expect(Fixture.reason(Self.parseBinary(&parser, specversion: "0.3")) == .badSpecVersion)
        #expect(Fixture.reason(Self.parseBinary(&parser, time: "2026-02-30T00:00:00Z")) == .badTime)
        #expect(Fixture.reason(Self.parseBinary(&parser, type: "nope")) == .unknownMeter)
        #expect(Fixture.reason(Self.parseBinary(&parser, data: #"{"tokens":"abc"}"#)) == .badValue)
        #expect(Fixture.reason(Self.parseBinary(&parser, data: "")) == .badValue)       // no data, SUM needs a value
        #expect(Fixture.reason(Self.parseBinary(&parser, data: #"{"tokens":1"#)) == .malformedJSON)
        #expect(Fixture.reason(Self.parseBinary(&parser, id: String(repeating: "a", count: 257))) == .tooLarge)
        parser.limits.maxMessageBytes = 20
        #expect(Fixture.reason(Self.parseBinary(&parser, data: #"{"tokens":1,"pad":"xxxxxxxxxxxxxxxx"}"#)) == .tooLarge)
        #expect(parser.limits.maxMessageBytes == 20)   // restored after the internal re-parse
    }

    /// The message value is the `data` JSON value: anything after that value is malformed, and must not
    /// be able to add or override CloudEvents attributes.
    @Test func binaryDataIsOneJSONValue() {
        var parser = EventParser(catalog: Fixture.catalog)
        #expect(Fixture.reason(Self.parseBinary(&parser, data: #"{"tokens":5},"x":1"#)) == .malformedJSON)
        let injected = Self.parseBinary(&parser, subject: nil, data: #"{"tokens":5},"subject":"victim""#)
        #expect(Fixture.reason(injected) == .malformedJSON)
    }
}

/// A meter file written for OpenMeter (its documented meter format: slug, description, eventType,
/// aggregation, valueProperty, groupBy; no windowSize) loads unchanged, and its events parse.
@Suite struct OpenMeterCompatibilityTests {
    static let yaml = """
        meters:
          # Sample meter to count API requests
          - slug: api_requests_total
            description: API Requests
            eventType: request
            aggregation: COUNT
            groupBy:
              method: $.method
              route: $.route
          # Sample meter to sum request duration
          - slug: api_requests_duration
            description: API Request Duration
            eventType: request
            aggregation: SUM
            valueProperty: $.duration_ms
            groupBy:
              method: $.method
              route: $.route
          - slug: tokens_total
            description: AI Token Usage
            eventType: prompt
            aggregation: SUM
            valueProperty: $.tokens
            groupBy:
              model: $.model
              type: $.type
        priceBooks:
          - id: std
            version: 1
            currency: USD
            effectiveFrom: 2026-01-01T00:00:00Z
            prices:
              - { meter: api_requests_total, model: per_unit, unitAmount: "0.0001" }
        entities:
          - id: us
            currency: USD
            accounts: { unbilledReceivable: "1210", usageRevenue: "4010" }
        customers:
          - { subject: customer-1, entity: us, priceBook: std }
        """

    @Test func openMeterMetersLoadAndParseEvents() throws {
        let config = try ConfigLoader.parse(yaml: Self.yaml, file: "openmeter.yaml")
        #expect(config.meters.map(\.slug) == ["api_requests_total", "api_requests_duration", "tokens_total"])
        #expect(config.meters.map(\.windowSize) == [.hour, .hour, .hour])     // the default
        #expect(config.meters[0].aggregation == .count && config.meters[0].valueProperty == nil)
        #expect(config.meters[1].valueProperty?.text == "$.duration_ms")
        #expect(config.meters[2].groupBy.map(\.name) == ["model", "type"])
        #expect(config.meters[0].description == "API Requests")

        // OpenMeter's documented request event.
        var parser = EventParser(catalog: MeterCatalog(config.meters))
        let event = #"""
            {"specversion":"1.0","type":"request","id":"00001","time":"2026-01-01T00:00:00.001Z","source":"service-0",
             "subject":"customer-1","data":{"method":"GET","route":"/hello","duration_ms":40}}
            """#
        let o = try Fixture.accepted(Fixture.parse(Array(event.utf8), parser: &parser, now: utc("2026-01-01T00:01:00Z")))
        #expect(o.readings.map(\.meterIndex) == [0, 1])
        #expect(o.readings.map(\.value) == [q("1"), q("40")])
        #expect(o.dimensions[0] == ["method=GET", "route=/hello"])
    }
}

/// The fast paths of the optimized parser (byte-literal member names, one-pass data keys, fixed-layout times,
/// plain-integer values) must give exactly what the general paths give.
@Suite struct EventParserFastPathTests {
    @Test func fixedLayoutTimesInEveryMonth() throws {
        // The word-load time parser once let a '-' borrow from the month digit below it (11 read as 10).
        for month in 1...12 {
            let m = month < 10 ? "0\(month)" : "\(month)"
            for (text, micros) in [("2025-\(m)-28T23:59:59.987654Z", 987_654), ("2025-\(m)-28T23:59:59Z", 0)] {
                let days = RFC3339.daysFromCivil(year: 2025, month: month, day: 28)
                let expected = (Int64(days) * 86_400 + 86_399) * 1_000_000 + Int64(micros)
                #expect(RFC3339.parseMicros(text) == expected, "\(text)")
                #expect(RFC3339.parseMicros(text.replacingOccurrences(of: "T", with: "t")) == expected, "\(text) with 't'")
                let o = try Fixture.accepted(Fixture.parse(Fixture.event(["time": "\"\(text)\""]), now: Int64.max / 2))
                #expect(o.timeMicros == expected)
            }
        }
        #expect(RFC3339.parseMicros("2025-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parseMicros("2025-01-01T00:00:60Z") == nil)
        #expect(RFC3339.parseMicros("2025-01-01T24:00:00.000000Z") == nil)
        #expect(RFC3339.parseMicros("2025-01-01T00:00:00.00000aZ") == nil)
    }

    @Test func dataKeysFirstOccurrenceAndEscapes() throws {
        // locate semantics: the first member with the key wins; escaped keys match their decoded bytes.
        let dup = try Fixture.accepted(Fixture.parse(Fixture.data(#"{"tokens":7,"model":"a","tokens":9}"#)))
        #expect(dup.readings[0].value == q("7"))
        let esc = try Fixture.accepted(Fixture.parse(Fixture.data(#"{"tok\u0065ns":"12","m\u006fdel":"large","region":"eu"}"#)))
        let plain = try Fixture.accepted(Fixture.parse(Fixture.data(#"{"tokens":"12","model":"large","region":"eu"}"#)))
        #expect(esc.readings == plain.readings)
        // Member names in an unusual order or escaped still reach the right attributes.
        let odd = #"{"d\u0061ta":{"tokens":3},"time":"2026-03-01T11:00:00Z","subject":"cust-42","type":"llm_tokens","#
            + #""source":"//api.example.com","id":"evt-1","spec\u0076ersion":"1.0"}"#
        let o = try Fixture.accepted(Fixture.parse(odd))
        #expect(o.readings[0].value == q("3"))
    }

    @Test func moreDataKeysThanSlotsFallBackToLocate() throws {
        let paths = ["$.a", "$.b", "$.c", "$.d", "$.e", "$.f"]
        let meters = paths.enumerated().map { i, p in
            Meter(slug: "m\(i)", eventType: "t", aggregation: .sum, valueProperty: Fixture.path(p), groupBy: [("g", Fixture.path("$.g\(i)"))])
        }
        var parser = EventParser(catalog: MeterCatalog(meters))
        let text = Fixture.event(["type": #""t""#, "data": #"{"f":6,"e":5,"d":4,"c":3,"b":2,"a":1,"g5":"x","g0":null}"#])
        let o = try Fixture.accepted(Fixture.parse(Array(text.utf8), parser: &parser))
        #expect(o.readings.map(\.value) == ["1", "2", "3", "4", "5", "6"].map(q))
        #expect(o.dimensions[5] == ["g=x"])
        #expect(o.dimensions[0] == [])
    }

    @Test func plainIntegerValuesMatchTheGeneralParser() {
        for text in ["0", "-0", "7", "-7", "007", "999999999999999999", "-999999999999999999", "1000000000000000000", "12.5", "1e3"] {
            let viaBytes = Array(text.utf8).withUnsafeBytes { FixedPoint.parse($0, scale: 9) }
            let general = Array(text.utf8).withUnsafeBytes { FixedPoint.parseGeneral($0, scale: 9) }
            #expect(viaBytes == general, "\(text)")
        }
    }
}


@Suite struct JSONPathRegressionTests {
    /// Found by the fuzzer (Fuzz/known/jsonpath-index-overflow): an index with more digits than Int holds trapped.
    @Test func jsonPathIndexOverflowIsAnError() {
        #expect(throws: DecimalError.self) { try JSONPath("$[18346046923173168730371558841]") }
        #expect(throws: DecimalError.self) { try JSONPath("$.a[99999999999999999999]") }
        #expect((try? JSONPath("$.a[12]"))?.segments.last == .index(12))
    }
}

/// The router's `peekSubjectHash` must give every event of a subject the hash the owning shard's parse gives it,
/// whatever the member order and spelling, or one subject's windows would be split across shards.
@Suite struct PeekSubjectHashTests {
    static func peek(_ text: String) -> Hash128? {
        Array(text.utf8).withUnsafeBytes { EventParser.peekSubjectHash($0) }
    }

    @Test(arguments: [
        Fixture.event(),                                                                  // the usual order (literal path)
        #"{"subject":"cust-42","specversion":"1.0","id":"e","source":"s","type":"llm_tokens","time":"2026-03-01T11:00:00Z","data":{"tokens":1}}"#,
        #"{ "specversion" : "1.0", "id":"e", "source":"s", "type":"llm_tokens", "time":"2026-03-01T11:00:00Z", "subject" : "cust-42", "data":{"tokens":1}}"#,
        #"{"specversion":"1.0","id":"e","source":"s","type":"llm_tokens","sub\u006aect":"cust-42","time":"2026-03-01T11:00:00Z","data":{"tokens":1}}"#,
        #"{"specversion":"1.0","id":"e","source":"s","type":"llm_tokens","data":{"subject":"other","tokens":1},"subject":"cust-42","time":"2026-03-01T11:00:00Z"}"#,
        #"{"specversion":"1.0","id":"e","source":"s","type":"llm_tokens","subjects":"x","subject":"cust\u002d42","time":"2026-03-01T11:00:00Z","data":{"tokens":1}}"#,
    ])
    func peekEqualsParse(_ text: String) throws {
        let parsed = try Fixture.accepted(Fixture.parse(text))
        #expect(parsed.subject == "cust-42")
        #expect(PeekSubjectHashTests.peek(text) == parsed.subjectHash)
    }

    @Test func noStringSubjectIsNil() {
        #expect(PeekSubjectHashTests.peek(Fixture.event(["subject": nil])) == nil)
        #expect(PeekSubjectHashTests.peek(Fixture.event(["subject": "42"])) == nil)
        #expect(PeekSubjectHashTests.peek("not json") == nil)
        #expect(PeekSubjectHashTests.peek(#"{"specversion":"1.0","id":"e""#) == nil)
    }
}

/// The byte comparisons of the accept path (`memcmpEqual`, the short-name match of recorded data keys) against
/// what they stand for: equal bytes, found by the general path.
@Suite struct ParserFastPathTests {
    @Test func memcmpEqualMatchesByteComparisonAtEveryLengthAndPosition() {
        // Lengths 0...24 cover the byte, 2-, 4- and 8-byte load paths; offsets 0...3 unaligned starts.
        let b: [UInt8] = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for offset in 0...3 {
            for n in 0...24 {
                var a = [UInt8](repeating: 0xEE, count: offset) + Array(b[0..<n]) + [UInt8](repeating: 0xEE, count: 8)
                a.withUnsafeBytes { ab in
                    b.withUnsafeBytes { bb in
                        #expect(memcmpEqual(ab, offset, bb, n), "equal bytes, n \(n) offset \(offset)")
                    }
                }
                for k in 0..<n {
                    a[offset + k] ^= 0x01
                    a.withUnsafeBytes { ab in
                        b.withUnsafeBytes { bb in
                            #expect(!memcmpEqual(ab, offset, bb, n), "byte \(k) differs, n \(n) offset \(offset)")
                        }
                    }
                    a[offset + k] ^= 0x01
                }
            }
        }
    }

    @Test(arguments: [
        // The wanted key `tokens` among names that share its first bytes, are longer, or shorter.
        (#"{"tok":1,"tokensX":2,"tokens":3,"model":"m"}"#, "3"),
        (#"{"tokenz":1,"tokens":4}"#, "4"),
        (#"{"tokens":5,"tokens":6}"#, "5"),                        // the first occurrence counts, as `locate` finds it
        (#"{"t\u006fkens":7}"#, "7"),                              // escaped name: the general comparison
        (#"{"model":"large","region":"eu","tokens":8}"#, "8"),    // the last member, its name 8 bytes from the end
    ])
    func recordedDataKeysMatchOnlyTheirExactName(data: String, expected: String) throws {
        let o = try Fixture.accepted(Fixture.parse(Fixture.data(data)))
        #expect(o.readings.first?.value == q(expected), "data: \(data)")
    }

    @Test func specversionOtherThanOnePointZeroIsRejected() throws {
        for spec in [#""1.1""#, #""1.""#, #""10""#, #""1.00""#, #""0.3""#] {
            guard case .failure(let r) = Fixture.parse(Fixture.event(["specversion": spec])) else {
                Issue.record("specversion \(spec) accepted"); continue
            }
            #expect(r.reason == .badSpecVersion, "specversion \(spec)")
        }
        // Escaped, the same text is still "1.0".
        _ = try Fixture.accepted(Fixture.parse(Fixture.event(["specversion": #""1\u002e0""#])))
    }
}
