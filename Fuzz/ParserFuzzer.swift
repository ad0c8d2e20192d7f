// libFuzzer entry point for the MeterlineCore input parsers. Built by `Fuzz/run.sh`, which compiles this file together
// with every source file of MeterlineCore into one module (so no `import`), with -sanitize=fuzzer,address.
//
// Besides "does not crash", it checks a few invariants that must hold for every input:
// - accepted events have all ranges inside the buffer, a valid meter index per reading, and
//   `peekSubjectHash` agrees with the parser's subject hash;
// - RFC 3339: an accepted time formats and parses back to the same instant (years 1...9998);
// - FixedPoint: an accepted number formats and parses back to the same raw value.

/// Meters exercised: SUM with groupBy (one nested path), COUNT with groupBy, UNIQUE_COUNT, LATEST (index path).
let fuzzCatalog = MeterCatalog([
    Meter(slug: "tokens", eventType: "llm_tokens", aggregation: .sum, valueProperty: try! JSONPath("$.tokens"),
          groupBy: [("model", try! JSONPath("$.model")), ("region", try! JSONPath("$.geo.region"))]),
    Meter(slug: "calls", eventType: "api_request", aggregation: .count, valueProperty: nil,
          groupBy: [("method", try! JSONPath("$.method"))]),
    Meter(slug: "users", eventType: "user_seen", aggregation: .uniqueCount, valueProperty: try! JSONPath("$.user")),
    Meter(slug: "level", eventType: "gauge", aggregation: .latest, valueProperty: try! JSONPath("$.v[1]")),
    Meter(slug: "quoted", eventType: "gauge", aggregation: .sum, valueProperty: try! JSONPath(#"$["a b"]"#)),
])

/// Paths used for direct `locate` calls on arbitrary JSON.
let fuzzPaths: [JSONPath] = [
    try! JSONPath("$.a"), try! JSONPath("$.a.b"), try! JSONPath("$[0]"), try! JSONPath("$.a[2].c"), try! JSONPath(#"$["x\"y"]"#),
]

nonisolated(unsafe) var fuzzParser = EventParser(catalog: fuzzCatalog, limits: {
    var l = EventLimits()
    l.maxMessageBytes = 2048   // so the TOO_LARGE path is reachable with -max_len=4096
    l.maxIdentifierBytes = 64
    return l
}())

let fuzzNow: Int64 = 1_772_366_400_000_000  // 2026-03-01T12:00:00Z

func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("fuzz invariant violated: \(what())") }
}

func checkAccepted(_ base: UnsafeRawBufferPointer, _ e: ParsedEvent, _ parser: EventParser) {
    for r in [e.id, e.source, e.type, e.subject] + (e.data.map { [$0] } ?? []) {
        check(r.start >= 0 && r.start <= r.end && r.end <= base.count, "range \(r) outside \(base.count) bytes")
    }
    for s in [e.id, e.source, e.type, e.subject] {
        check(s.kind == .string && s.end > s.start, "required attribute \(s) is not a non-empty string")
        _ = EventParser.string(base, s)
    }
    check(e.typeIndex >= 0 && e.typeIndex < fuzzCatalog.metersByType.count, "type index \(e.typeIndex)")
    check(parser.readings.count == fuzzCatalog.metersByType[e.typeIndex].count, "readings count")
    for r in parser.readings {
        check(fuzzCatalog.meters[r.meterIndex].eventType == fuzzCatalog.meters[fuzzCatalog.metersByType[e.typeIndex][0]].eventType,
              "reading for a meter of another type")
        _ = EventParser.dimensions(base, data: e.data, meter: fuzzCatalog.meters[r.meterIndex])
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    // 1. Structured mode: the whole input is the message.
    do {
        let e = try fuzzParser.parse(input, nowMicros: fuzzNow)
        checkAccepted(input, e, fuzzParser)
        check(EventParser.peekSubjectHash(input) == e.subjectHash, "peekSubjectHash differs from the parser's subject hash")
    } catch {
        check(!error.message.isEmpty, "empty rejection message")
    }
    _ = EventParser.peekSubjectHash(input)

    // 2. Binary mode: split at 0x00 bytes into up to 6 header values (specversion, id, source, type, subject, time);
    //    the rest is `data`. A field of one 0x01 byte means "header absent".
    var fields: [UnsafeRawBufferPointer?] = []
    var start = 0, i = 0
    while i < size && fields.count < 6 {
        if input[i] == 0 {
            let f = UnsafeRawBufferPointer(rebasing: input[start..<i])
            fields.append(f.count == 1 && f[0] == 1 ? nil : f)
            start = i + 1
        }
        i += 1
    }
    if fields.count == 6 {
        let payload = UnsafeRawBufferPointer(rebasing: input[start..<size])
        do {
            let e = try fuzzParser.parseBinary(specversion: fields[0], id: fields[1], source: fields[2], type: fields[3],
                                               subject: fields[4], time: fields[5], data: payload, nowMicros: fuzzNow)
            fuzzParser.withScratchBytes { checkAccepted($0, e, fuzzParser) }
        } catch {
            check(!error.message.isEmpty, "empty rejection message")
        }
    }

    // 3. RFC 3339 on the whole input and on the first 32 bytes.
    for slice in [input, UnsafeRawBufferPointer(rebasing: input[0..<min(size, 32)])] {
        if let t = RFC3339.parseMicros(slice) {
            let (y, _, _) = RFC3339.civilFromDays(Int(UTC.floor(t, UTC.microsPerDay) / UTC.microsPerDay))
            if y >= 1 && y <= 9998 {
                let text = RFC3339.format(micros: t)
                check(RFC3339.parseMicros(text) == t, "RFC 3339 round trip: \(t) → \(text)")
            }
        }
    }

    // 3b. The RFC 3339 fast path (fixed layouts) must agree with the general parser whenever it answers.
    for slice in [input, UnsafeRawBufferPointer(rebasing: input[0..<min(size, 27)]), UnsafeRawBufferPointer(rebasing: input[0..<min(size, 20)])]
    where slice.count == 20 || slice.count == 27 {
        if let fast = RFC3339.parseCommonUTC(slice) {
            check(RFC3339.parseGeneral(slice) == fast, "RFC 3339 fast path \(fast) differs from the general parser")
        }
    }

    // 4. Fixed point at the scales used (quantities 9, amounts 12) and an extreme one.
    for scale in [0, 9, 12, 19, 20, 38] {
        let prefix = UnsafeRawBufferPointer(rebasing: input[0..<min(size, 64)])
        // The plain-integer fast path must agree with the general parser whenever it answers.
        if let fast = FixedPoint.parsePlainInteger(prefix, scale: scale) {
            check(FixedPoint.parseGeneral(prefix, scale: scale) == .success(fast), "FixedPoint fast path differs at scale \(scale)")
        }
        if case .success(let raw) = FixedPoint.parse(prefix, scale: scale) {
            let text = FixedPoint.format(raw, scale: scale)
            check(FixedPoint.parse(text, scale: scale) == .success(raw), "FixedPoint round trip at scale \(scale): \(raw) → \(text)")
        }
    }

    // 5. JSONPath.locate on any JSON value (validated first, as the parser does before calling it).
    var s = JSONScanner(input, maxDepth: 32)
    if let v = try? s.scanValue(depth: 0) {
        for p in fuzzPaths {
            if let found = p.locate(in: s, container: v) {
                check(found.start >= v.start && found.end <= v.end, "located value outside its container")
            }
        }
    }
    // JSONPath parsing of short inputs (config-time path texts).
    if size <= 64 {
        _ = try? JSONPath(String(decoding: input, as: UTF8.self))
    }
    return 0
}
