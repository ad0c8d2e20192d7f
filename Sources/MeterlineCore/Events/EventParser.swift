/// One meter's reading of an accepted event.
/// Invariant: `value` is the exact value (1 for COUNT); `uniqueKey` is set only for UNIQUE_COUNT.
public struct MeterReading: Sendable, Equatable {
    public var meterIndex: Int
    public var value: Quantity
    public var uniqueKey: Hash128
    /// Hash of the canonical (name, value) list of the meter's groupBy dimensions.
    public var dimensionsHash: Hash128
}

/// The located fields of a parsed CloudEvent. String fields are ranges into the parsed buffer.
/// Invariant: `id`, `source`, `type`, `subject` are non-empty strings within the limits; `timeMicros` is UTC.
public struct ParsedEvent: Sendable {
    public var id: JSONValueRef
    public var source: JSONValueRef
    public var type: JSONValueRef
    public var subject: JSONValueRef
    public var timeMicros: Int64
    public var data: JSONValueRef?
    /// Hash of (source, id): the deduplication identity.
    public var identity: Hash128
    /// Hash of subject: the customer key.
    public var subjectHash: Hash128
    /// Index of the event type in the catalog.
    public var typeIndex: Int
}

/// The compiled set of meters: event type → meters that read it.
/// Invariant: every meter index appears under exactly one type.
public struct MeterCatalog: Sendable {
    public let meters: [Meter]
    @usableFromInline let types: [[UInt8]]
    @usableFromInline let metersByType: [[Int]]

    public init(_ meters: [Meter]) {
        self.meters = meters
        var types: [[UInt8]] = []
        var byType: [[Int]] = []
        for (i, m) in meters.enumerated() {
            let t = Array(m.eventType.utf8)
            if let k = types.firstIndex(of: t) { byType[k].append(i) } else { types.append(t); byType.append([i]) }
        }
        self.types = types
        self.metersByType = byType
    }

    @inlinable
    func typeIndex(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Int? {
        let n = ref.end - ref.start
        var k = 0
        while k < types.count {
            let t = types[k]
            if t.count == n {
                let eq = t.withUnsafeBytes { tb in
                    if ref.escaped { return JSONScanner.unescape(base, ref).elementsEqual(tb) }
                    return memcmpEqual(base, ref.start, tb, n)
                }
                if eq { return k }
            }
            k &+= 1
        }
        if ref.escaped {
            let u = JSONScanner.unescape(base, ref)
            return types.firstIndex(of: u)
        }
        return nil
    }
}

@inlinable @inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ aStart: Int, _ b: UnsafeRawBufferPointer, _ n: Int) -> Bool {
    var k = 0
    while k < n { if a[aStart + k] != b[k] { return false }; k &+= 1 }
    return true
}

/// Parses and validates CloudEvents 1.0 usage events against a meter catalog.
/// Reuse one parser per shard: its buffers are kept between events, so the accept path does not allocate
/// (except for strings that contain escapes and binary-mode messages, which are rebuilt in a scratch buffer).
public struct EventParser {
    public let catalog: MeterCatalog
    public var limits: EventLimits
    /// Readings of the last accepted event, one per meter of its type.
    public private(set) var readings: [MeterReading] = []
    @usableFromInline var scratch: [UInt8] = []

    public init(catalog: MeterCatalog, limits: EventLimits = EventLimits()) {
        self.catalog = catalog
        self.limits = limits
        readings.reserveCapacity(8)
        scratch.reserveCapacity(4096)
    }

    @usableFromInline static let kSpecversion: StaticString = "specversion"
    @usableFromInline static let kId: StaticString = "id"
    @usableFromInline static let kSource: StaticString = "source"
    @usableFromInline static let kType: StaticString = "type"
    @usableFromInline static let kSubject: StaticString = "subject"
    @usableFromInline static let kTime: StaticString = "time"
    @usableFromInline static let kData: StaticString = "data"

    @inlinable @inline(__always)
    static func keyIs(_ s: JSONScanner, _ k: JSONValueRef, _ lit: StaticString) -> Bool {
        s.stringEquals(k, UnsafeRawBufferPointer(start: lit.utf8Start, count: lit.utf8CodeUnitCount))
    }

    /// Parses a structured-mode event (the whole message is the CloudEvent JSON) and evaluates its meters.
    /// `nowMicros` is processing time for the FUTURE_TIME check.
    public mutating func parse(_ message: UnsafeRawBufferPointer, nowMicros: Int64) throws(Rejection) -> ParsedEvent {
        guard message.count <= limits.maxMessageBytes else {
            throw Rejection(.tooLarge, "message of \(message.count) bytes exceeds \(limits.maxMessageBytes)")
        }
        var s = JSONScanner(message, maxDepth: limits.maxDepth)
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else { throw Rejection(.malformedJSON, "the event is not a JSON object") }
        s.pos += 1
        var spec: JSONValueRef? = nil, id: JSONValueRef? = nil, source: JSONValueRef? = nil
        var type: JSONValueRef? = nil, subject: JSONValueRef? = nil, time: JSONValueRef? = nil
        var data: JSONValueRef? = nil
        var seen: UInt8 = 0
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            while true {
                s.skipWhitespace()
                let k = try s.scanString()
                try s.expect(UInt8(ascii: ":"))
                let v = try s.scanValue(depth: 1)
                var bit: UInt8 = 0
                if EventParser.keyIs(s, k, EventParser.kId) { id = v; bit = 1 }
                else if EventParser.keyIs(s, k, EventParser.kSource) { source = v; bit = 2 }
                else if EventParser.keyIs(s, k, EventParser.kType) { type = v; bit = 4 }
                else if EventParser.keyIs(s, k, EventParser.kSubject) { subject = v; bit = 8 }
                else if EventParser.keyIs(s, k, EventParser.kTime) { time = v; bit = 16 }
                else if EventParser.keyIs(s, k, EventParser.kData) { data = v; bit = 32 }
                else if EventParser.keyIs(s, k, EventParser.kSpecversion) { spec = v; bit = 64 }
                if bit != 0 {
                    if seen & bit != 0 { throw Rejection(.malformedJSON, "duplicate member in the event") }
                    seen |= bit
                }
                s.skipWhitespace()
                guard let c = s.peek() else { throw Rejection(.malformedJSON, "unterminated object") }
                s.pos += 1
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { throw Rejection(.malformedJSON, "expected ',' or '}' at byte \(s.pos - 1)") }
            }
        }
        s.skipWhitespace()
        guard s.pos == s.end else { throw Rejection(.malformedJSON, "trailing bytes after the event") }
        return try validate(s, spec: spec, id: id, source: source, type: type, subject: subject, time: time, data: data, nowMicros: nowMicros)
    }

    /// Parses a binary-mode event: attributes from `ce_*` Kafka headers, `data` as the message value.
    /// The attributes are rebuilt as a structured event in a reused scratch buffer.
    public mutating func parseBinary(specversion: UnsafeRawBufferPointer?, id: UnsafeRawBufferPointer?, source: UnsafeRawBufferPointer?,
                                     type: UnsafeRawBufferPointer?, subject: UnsafeRawBufferPointer?, time: UnsafeRawBufferPointer?,
                                     data: UnsafeRawBufferPointer, nowMicros: Int64) throws(Rejection) -> ParsedEvent {
        guard data.count <= limits.maxMessageBytes else {
            throw Rejection(.tooLarge, "message of \(data.count) bytes exceeds \(limits.maxMessageBytes)")
        }
        if data.count > 0 {
            // The value is spliced into a rebuilt event: it must be exactly one JSON value, or it could inject attributes.
            var d = JSONScanner(data, maxDepth: limits.maxDepth)
            _ = try d.scanValue(depth: 1)
            d.skipWhitespace()
            guard d.pos == d.end else { throw Rejection(.malformedJSON, "binary-mode data is not a single JSON value (trailing bytes at \(d.pos))") }
        }
        var buf = scratch
        buf.removeAll(keepingCapacity: true)
        buf.append(UInt8(ascii: "{"))
        func field(_ name: String, _ value: UnsafeRawBufferPointer?) {
            guard let value else { return }
            if buf.count > 1 { buf.append(UInt8(ascii: ",")) }
            buf.append(UInt8(ascii: "\""))
            buf.append(contentsOf: name.utf8)
            buf.append(contentsOf: "\":\"".utf8)
            for c in value {
                switch c {
                case UInt8(ascii: "\""): buf.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): buf.append(contentsOf: "\\\\".utf8)
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buf.append(contentsOf: "\\u00".utf8)
                    buf.append(hex[Int(c >> 4)]); buf.append(hex[Int(c & 15)])
                default: buf.append(c)
                }
            }
            buf.append(UInt8(ascii: "\""))
        }
        field("specversion", specversion)
        field("id", id)
        field("source", source)
        field("type", type)
        field("subject", subject)
        field("time", time)
        if data.count > 0 {
            if buf.count > 1 { buf.append(UInt8(ascii: ",")) }
            buf.append(contentsOf: "\"data\":".utf8)
            buf.append(contentsOf: data)
        }
        buf.append(UInt8(ascii: "}"))
        let saved = limits.maxMessageBytes
        limits.maxMessageBytes = Int.max
        defer { limits.maxMessageBytes = saved; scratch = buf }
        let result: Result<ParsedEvent, Rejection> = buf.withUnsafeBytes { b in
            do throws(Rejection) { return .success(try parse(b, nowMicros: nowMicros)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let e):
            // Ranges point into the scratch copy; callers of binary mode read fields via `scratchBytes`.
            return e
        case .failure(let r): throw r
        }
    }

    /// The buffer that the last `parseBinary` result's ranges point into.
    public func withScratchBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try scratch.withUnsafeBytes(body)
    }

    @inlinable
    func requireString(_ s: JSONScanner, _ v: JSONValueRef?, _ name: String) throws(Rejection) -> JSONValueRef {
        guard let v, v.kind != .null else { throw Rejection(.missingField, "missing required attribute '\(name)'") }
        guard v.kind == .string else { throw Rejection(.missingField, "attribute '\(name)' must be a string") }
        guard v.end > v.start else { throw Rejection(.missingField, "attribute '\(name)' is empty") }
        return v
    }

    mutating func validate(_ s: JSONScanner, spec: JSONValueRef?, id: JSONValueRef?, source: JSONValueRef?, type: JSONValueRef?,
                           subject: JSONValueRef?, time: JSONValueRef?, data: JSONValueRef?, nowMicros: Int64) throws(Rejection) -> ParsedEvent {
        let specRef = try requireString(s, spec, "specversion")
        guard EventParser.keyIs(s, specRef, "1.0") else {
            throw Rejection(.badSpecVersion, "specversion must be \"1.0\", got \"\(String(decoding: JSONScanner.unescape(s.base, specRef), as: UTF8.self))\"")
        }
        let idRef = try requireString(s, id, "id")
        let sourceRef = try requireString(s, source, "source")
        let typeRef = try requireString(s, type, "type")
        let subjectRef = try requireString(s, subject, "subject")
        let timeRef = try requireString(s, time, "time")
        let maxId = limits.maxIdentifierBytes
        // Limits count decoded bytes; escapes are only decoded when the raw text is over the limit.
        if EventParser.decodedLength(s.base, idRef) > maxId { throw Rejection(.tooLarge, "attribute 'id' is longer than \(maxId) bytes") }
        if EventParser.decodedLength(s.base, sourceRef) > maxId { throw Rejection(.tooLarge, "attribute 'source' is longer than \(maxId) bytes") }
        if EventParser.decodedLength(s.base, subjectRef) > maxId { throw Rejection(.tooLarge, "attribute 'subject' is longer than \(maxId) bytes") }
        let parsedTime: Int64?
        if timeRef.escaped {
            parsedTime = JSONScanner.unescape(s.base, timeRef).withUnsafeBytes { RFC3339.parseMicros($0) }
        } else {
            parsedTime = RFC3339.parseMicros(UnsafeRawBufferPointer(rebasing: s.base[timeRef.start..<timeRef.end]))
        }
        guard let t = parsedTime else {
            throw Rejection(.badTime, "time \"\(String(decoding: JSONScanner.unescape(s.base, timeRef), as: UTF8.self))\" is not a valid RFC 3339 date-time")
        }
        if t > nowMicros &+ limits.maxFutureMicros {
            throw Rejection(.futureTime, "time \(RFC3339.format(micros: t)) is more than \(limits.maxFutureMicros / 1_000_000) s in the future")
        }
        guard let typeIndex = catalog.typeIndex(s.base, typeRef) else {
            throw Rejection(.unknownMeter, "no meter reads events of type \"\(String(decoding: JSONScanner.unescape(s.base, typeRef), as: UTF8.self))\"")
        }
        var h = Hasher128()
        EventParser.combineString(&h, s.base, sourceRef)
        EventParser.combineString(&h, s.base, idRef)
        let identity = h.finalize()
        var hs = Hasher128()
        EventParser.combineString(&hs, s.base, subjectRef)
        let subjectHash = hs.finalize()

        readings.removeAll(keepingCapacity: true)
        for meterIndex in catalog.metersByType[typeIndex] {
            let meter = catalog.meters[meterIndex]
            if let d = data, d.kind != .object, meter.valueProperty != nil || !meter.groupBy.isEmpty {
                throw Rejection(.badValue, "data must be a JSON object for meter '\(meter.slug)'")
            }
            var value = Quantity(raw: Quantity.one)
            var unique = Hash128.zero
            if let path = meter.valueProperty {
                guard let d = data, let v = path.locate(in: s, container: d) else {
                    throw Rejection(.badValue, "meter '\(meter.slug)': \(path) is missing")
                }
                switch v.kind {
                case .number:
                    value = try EventParser.quantity(s.base, v, meter, path)
                    if meter.aggregation == .uniqueCount { unique = EventParser.uniqueHash(number: value) }
                case .string:
                    if meter.aggregation == .uniqueCount {
                        var hu = Hasher128()
                        EventParser.combineString(&hu, s.base, v)
                        unique = hu.finalize()
                    } else {
                        value = try EventParser.quantity(s.base, v, meter, path)
                    }
                default:
                    throw Rejection(.badValue, "meter '\(meter.slug)': \(path) is \(v.kind == .null ? "null" : "not a number")")
                }
            }
            var hd = Hasher128()
            for (name, path) in meter.groupBy {
                hd.combine(name)
                if let d = data, let v = path.locate(in: s, container: d) {
                    switch v.kind {
                    case .string: hd.combine(1); EventParser.combineString(&hd, s.base, v)
                    case .number, .trueValue, .falseValue:
                        hd.combine(1); hd.combine(UnsafeRawBufferPointer(rebasing: s.base[v.start..<v.end]))
                    case .null: hd.combine(0)
                    case .object, .array:
                        throw Rejection(.badValue, "meter '\(meter.slug)': groupBy \(name) at \(path) is not a scalar")
                    }
                } else {
                    hd.combine(0)
                }
            }
            readings.append(MeterReading(meterIndex: meterIndex, value: value, uniqueKey: unique, dimensionsHash: hd.finalize()))
        }
        return ParsedEvent(id: idRef, source: sourceRef, type: typeRef, subject: subjectRef, timeMicros: t, data: data,
                           identity: identity, subjectHash: subjectHash, typeIndex: typeIndex)
    }

    @inlinable
    static func decodedLength(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Int {
        ref.escaped ? JSONScanner.unescape(base, ref).count : ref.end - ref.start
    }

    @inlinable
    static func combineString(_ h: inout Hasher128, _ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) {
        if ref.escaped {
            let u = JSONScanner.unescape(base, ref)
            u.withUnsafeBytes { h.combine($0) }
        } else {
            h.combine(UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end]))
        }
    }

    static func uniqueHash(number: Quantity) -> Hash128 {
        var h = Hasher128()
        h.combine(number.description)
        return h.finalize()
    }

    static func quantity(_ base: UnsafeRawBufferPointer, _ v: JSONValueRef, _ meter: Meter, _ path: JSONPath) throws(Rejection) -> Quantity {
        let result: Result<Int128, DecimalError>
        if v.escaped {
            let u = JSONScanner.unescape(base, v)
            result = u.withUnsafeBytes { FixedPoint.parse($0, scale: Quantity.scale) }
        } else {
            result = FixedPoint.parse(UnsafeRawBufferPointer(rebasing: base[v.start..<v.end]), scale: Quantity.scale)
        }
        switch result {
        case .success(let raw): return Quantity(raw: raw)
        case .failure(let e):
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: base[v.start..<v.end]), as: UTF8.self)
            throw Rejection(.badValue, "meter '\(meter.slug)': \(path) = \(text): \(e.message)")
        }
    }

    /// The subject hash of a structured-mode event without validating it (for routing to a shard before the
    /// owning shard parses it): scans top-level members only. Nil when there is no string `subject`
    /// (the event will be rejected by whichever shard gets it).
    public static func peekSubjectHash(_ message: UnsafeRawBufferPointer) -> Hash128? {
        var s = JSONScanner(message, maxDepth: 64)
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else { return nil }
        s.pos += 1
        while true {
            s.skipWhitespace()
            guard let k = try? s.scanString(), (try? s.expect(UInt8(ascii: ":"))) != nil, let v = try? s.scanValue(depth: 1) else { return nil }
            if keyIs(s, k, kSubject) {
                guard v.kind == .string else { return nil }
                var h = Hasher128()
                combineString(&h, s.base, v)
                return h.finalize()
            }
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: ",") else { return nil }
            s.pos += 1
        }
    }

    /// Decodes a string field of a parsed event (slow path: allocates).
    public static func string(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> String {
        String(decoding: ref.escaped ? JSONScanner.unescape(base, ref) : Array(UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end])), as: UTF8.self)
    }

    /// The groupBy dimensions of `meter` for a parsed event, as (name, value) strings in canonical order
    /// (slow path, called once per new rollup key). Absent or null dimensions are omitted.
    public static func dimensions(_ base: UnsafeRawBufferPointer, data: JSONValueRef?, meter: Meter) -> [(String, String)] {
        guard let d = data else { return [] }
        let s = JSONScanner(base, maxDepth: Int.max)
        var out: [(String, String)] = []
        for (name, path) in meter.groupBy {
            guard let v = path.locate(in: s, container: d) else { continue }
            switch v.kind {
            case .string: out.append((name, string(base, v)))
            case .number, .trueValue, .falseValue:
                out.append((name, String(decoding: UnsafeRawBufferPointer(rebasing: base[v.start..<v.end]), as: UTF8.self)))
            default: continue
            }
        }
        return out
    }
}
