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

/// Parses and validates CloudEvents 1.0 usage events against a meter catalog.
/// Reuse one parser per shard: its buffers are kept between events, so the accept path does not allocate
/// (except for strings that contain escapes, which are decoded into new arrays). Binary-mode messages are rebuilt
/// in a scratch buffer that is kept between events.
public struct EventParser {
    public let catalog: MeterCatalog
    public var limits: EventLimits
    /// Readings of the last accepted event, one per meter of its type: the first `readingCount` of `readingStore`,
    /// which holds one slot per catalog meter (a type has at most that many), so a parse overwrites them in place
    /// instead of emptying and growing an array.
    @usableFromInline var readingStore: [MeterReading]
    public private(set) var readingCount = 0
    /// The date of the last event's time (consecutive events mostly share the day).
    @usableFromInline var dateMemo = RFC3339.DateMemo()
    /// A copy of the last accepted event's readings (for tests and tools; the accept path uses `withReadings`).
    public var readings: [MeterReading] { Array(readingStore[0..<readingCount]) }
    @usableFromInline var scratch: [UInt8] = []
    /// The catalog compiled to flat tables of trivial values for the accept path.
    @usableFromInline let plan: ParserPlan
    /// Hash results of short values seen before (sources, one-group dimension values); a cache, not state.
    @usableFromInline var hashMemo = ShortHashMemo()

    public init(catalog: MeterCatalog, limits: EventLimits = EventLimits()) {
        self.catalog = catalog
        self.limits = limits
        self.plan = ParserPlan(catalog)
        readingStore = Array(repeating: MeterReading(meterIndex: 0, value: Quantity(raw: 0), uniqueKey: .zero, dimensionsHash: .zero),
                             count: catalog.meters.count)
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
    /// `head`, when given, is `canonicalHead(message)` (the router's): the parse starts after the subject.
    public mutating func parse(_ message: UnsafeRawBufferPointer, nowMicros: Int64, head: CanonicalHead? = nil) throws(Rejection) -> ParsedEvent {
        if let e = try parseCanonical(message, nowMicros: nowMicros, head: head) { return e }
        return try parseGeneral(message, nowMicros: nowMicros)
    }

    /// `parse` for any member order, whitespace and escapes: the member loop.
    mutating func parseGeneral(_ message: UnsafeRawBufferPointer, nowMicros: Int64) throws(Rejection) -> ParsedEvent {
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
        // Values of the data keys the meters read (`$.key` paths), recorded while `data` is validated.
        var slots = DataSlots()
        let wantsSlots = plan.wantedCount > 0
        // Index of the next member name in the usual order (`expectedName`), tried as a byte literal first.
        var expected = 0
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            while true {
                s.skipWhitespace()
                let bit: UInt8
                let e = EventParser.expectedName(expected)
                if EventParser.literalAt(s, e) {
                    // Exactly what scanString + expect(":") consume for an unescaped name.
                    s.pos &+= e.count
                    bit = e.bit
                    expected &+= 1
                } else {
                    let k = try s.scanString()
                    try s.expect(UInt8(ascii: ":"))
                    bit = EventParser.attributeBit(s, k)
                }
                let v: JSONValueRef
                if bit == 32 && wantsSlots {
                    v = try plan.scanData(&s, &slots)
                } else if bit & EventParser.stringBits != 0 && s.pos < s.end && s.base[s.pos] == UInt8(ascii: "\"") {
                    // An attribute that must be a string, written as one (as `scanValue` would scan it, without its dispatch).
                    v = try s.scanString()
                } else {
                    v = try s.scanValue(depth: 1)
                }
                switch bit {
                case 1: id = v
                case 2: source = v
                case 4: type = v
                case 8: subject = v
                case 16: time = v
                case 32: data = v
                case 64: spec = v
                default: break
                }
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
        return try validate(s, spec: spec, id: id, source: source, type: type, subject: subject, time: time, data: data,
                            slots: slots, nowMicros: nowMicros)
    }

    /// The attribute bits whose value must be a string: id, source, type, subject, time, specversion.
    @usableFromInline static let stringBits: UInt8 = 1 | 2 | 4 | 8 | 16 | 64

    /// A member name with its quotes and colon (`"id":`) as little-endian words: the first 8 bytes, the last 8 bytes
    /// and bytes 8..<16 (names of more than 16 bytes). `count` 0 ends the list.
    @usableFromInline
    struct NameLiteral {
        @usableFromInline var count: Int
        @usableFromInline var bit: UInt8
        @usableFromInline var first: UInt64
        @usableFromInline var last: UInt64
        @usableFromInline var middle: UInt64
        @inlinable init(_ count: Int, _ bit: UInt8, _ first: UInt64, _ last: UInt64, _ middle: UInt64) {
            self.count = count; self.bit = bit; self.first = first; self.last = last; self.middle = middle
        }
    }

    /// The members of a CloudEvent in the order producers usually write them (the spec's order).
    @inlinable @inline(__always)
    static func expectedName(_ i: Int) -> NameLiteral {
        switch i {
        case 0: return NameLiteral(14, 64, 0x7265_7663_6570_7322, 0x3A22_6E6F_6973_7265, 0)  // "specversion":
        case 1: return NameLiteral(5, 1, 0x3A_2264_6922, 0, 0)                                // "id":
        case 2: return NameLiteral(9, 2, 0x2265_6372_756F_7322, 0x3A22_6563_7275_6F73, 0)    // "source":
        case 3: return NameLiteral(7, 4, 0x3A22_6570_7974_22, 0, 0)                           // "type":
        case 4: return NameLiteral(10, 8, 0x7463_656A_6275_7322, 0x3A22_7463_656A_6275, 0)   // "subject":
        case 5: return NameLiteral(7, 16, 0x3A22_656D_6974_22, 0, 0)                          // "time":
        case 6: return NameLiteral(18, 0, 0x6E6F_6361_7461_6422, 0x3A22_6570_7974_746E, 0x6570_7974_746E_6574)  // "datacontenttype":
        case 7: return NameLiteral(7, 32, 0x3A22_6174_6164_22, 0, 0)                          // "data":
        default: return NameLiteral(0, 0, 0, 0, 0)
        }
    }

    /// Whether the bytes at the scanner's position are exactly `lit`.
    @inlinable @inline(__always)
    static func literalAt(_ s: JSONScanner, _ lit: NameLiteral) -> Bool {
        let n = lit.count
        guard n != 0, s.pos &+ max(n, 8) <= s.end else { return false }
        @inline(__always) func w(_ o: Int) -> UInt64 { UInt64(littleEndian: s.base.loadUnaligned(fromByteOffset: s.pos &+ o, as: UInt64.self)) }
        if n <= 8 {
            let mask: UInt64 = n == 8 ? ~0 : (1 << UInt64(n &* 8)) &- 1
            return (w(0) ^ lit.first) & mask == 0
        }
        return w(0) == lit.first && w(n &- 8) == lit.last && (n <= 16 || w(8) == lit.middle)
    }

    /// The bit of a top-level member name: 1 id, 2 source, 4 type, 8 subject, 16 time, 32 data, 64 specversion, 0 other.
    /// Unescaped names (all real traffic) are compared as little-endian words by length; escaped ones are decoded.
    @inlinable @inline(__always)
    static func attributeBit(_ s: JSONScanner, _ k: JSONValueRef) -> UInt8 {
        if k.escaped { return attributeBitEscaped(s, k) }
        let b = s.base, p = k.start
        @inline(__always) func w16(_ o: Int) -> UInt16 { UInt16(littleEndian: b.loadUnaligned(fromByteOffset: p &+ o, as: UInt16.self)) }
        @inline(__always) func w32(_ o: Int) -> UInt32 { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: p &+ o, as: UInt32.self)) }
        @inline(__always) func w64(_ o: Int) -> UInt64 { UInt64(littleEndian: b.loadUnaligned(fromByteOffset: p &+ o, as: UInt64.self)) }
        switch k.end &- p {
        case 2: return w16(0) == 0x6469 ? 1 : 0                                     // "id"
        case 4:
            switch w32(0) {
            case 0x6570_7974: return 4                                               // "type"
            case 0x656D_6974: return 16                                              // "time"
            case 0x6174_6164: return 32                                              // "data"
            default: return 0
            }
        case 6: return w32(0) == 0x7275_6F73 && w16(4) == 0x6563 ? 2 : 0            // "source"
        case 7: return w32(0) == 0x6A62_7573 && w32(3) == 0x7463_656A ? 8 : 0       // "subject"
        case 11: return w64(0) == 0x7372_6576_6365_7073 && w32(7) == 0x6E6F_6973 ? 64 : 0  // "specversion"
        default: return 0
        }
    }

    @usableFromInline
    static func attributeBitEscaped(_ s: JSONScanner, _ k: JSONValueRef) -> UInt8 {
        if keyIs(s, k, kId) { return 1 }
        if keyIs(s, k, kSource) { return 2 }
        if keyIs(s, k, kType) { return 4 }
        if keyIs(s, k, kSubject) { return 8 }
        if keyIs(s, k, kTime) { return 16 }
        if keyIs(s, k, kData) { return 32 }
        if keyIs(s, k, kSpecversion) { return 64 }
        return 0
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
        // Take the buffer out of `scratch` so it is uniquely referenced: a plain copy would make
        // removeAll(keepingCapacity:) allocate a new buffer on every message.
        var buf: [UInt8] = []
        swap(&buf, &scratch)
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

    /// Runs `body` with the last accepted event's readings, in place.
    @inlinable
    public func withReadings<R>(_ body: (UnsafeBufferPointer<MeterReading>) throws -> R) rethrows -> R {
        try readingStore.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<readingCount])) }
    }

    /// The buffer that the last `parseBinary` result's ranges point into.
    public func withScratchBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try scratch.withUnsafeBytes(body)
    }

    @inlinable @inline(__always)
    func requireString(_ s: JSONScanner, _ v: JSONValueRef?, _ name: StaticString) throws(Rejection) -> JSONValueRef {
        if let v, v.kind == .string, v.end > v.start { return v }
        throw EventParser.notAString(v, name)
    }

    @inline(never) @usableFromInline
    static func notAString(_ v: JSONValueRef?, _ nameText: StaticString) -> Rejection {
        let name = nameText.description
        guard let v, v.kind != .null else { return Rejection(.missingField, "missing required attribute '\(name)'") }
        guard v.kind == .string else { return Rejection(.missingField, "attribute '\(name)' must be a string") }
        return Rejection(.missingField, "attribute '\(name)' is empty")
    }

    mutating func validate(_ s: JSONScanner, spec: JSONValueRef?, id: JSONValueRef?, source: JSONValueRef?, type: JSONValueRef?,
                           subject: JSONValueRef?, time: JSONValueRef?, data: JSONValueRef?, slots: DataSlots,
                           nowMicros: Int64, subjectHash known: Hash128? = nil) throws(Rejection) -> ParsedEvent {
        let specRef = try requireString(s, spec, "specversion")
        // "1.0" unescaped (all real traffic) compared as three bytes; anything else through the general comparison.
        let specIsOne = !specRef.escaped && specRef.end &- specRef.start == 3
            ? s.base[specRef.start] == UInt8(ascii: "1") && s.base[specRef.start &+ 1] == UInt8(ascii: ".") && s.base[specRef.start &+ 2] == UInt8(ascii: "0")
            : EventParser.keyIs(s, specRef, "1.0")
        guard specIsOne else {
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
            parsedTime = RFC3339.parseMicros(UnsafeRawBufferPointer(rebasing: s.base[timeRef.start..<timeRef.end]), memo: &dateMemo)
        }
        guard let t = parsedTime else {
            throw Rejection(.badTime, "time \"\(String(decoding: JSONScanner.unescape(s.base, timeRef), as: UTF8.self))\" is not a valid RFC 3339 date-time")
        }
        if t > nowMicros &+ limits.maxFutureMicros {
            throw Rejection(.futureTime, "time \(RFC3339.format(micros: t)) is more than \(limits.maxFutureMicros / 1_000_000) s in the future")
        }
        guard let typeIndex = typeRef.escaped ? catalog.typeIndex(s.base, typeRef) : plan.typeIndex(s.base, typeRef) else {
            throw Rejection(.unknownMeter, "no meter reads events of type \"\(String(decoding: JSONScanner.unescape(s.base, typeRef), as: UTF8.self))\"")
        }
        var h = sourceState(s.base, sourceRef)
        EventParser.combineString(&h, s.base, idRef)
        let identity = h.finalize()
        let subjectHash: Hash128
        if let known {
            subjectHash = known
        } else {
            var hs = Hasher128()
            EventParser.combineString(&hs, s.base, subjectRef)
            subjectHash = hs.finalize()
        }

        readingCount = 0
        var j = plan.typeStart[typeIndex]
        let jEnd = plan.typeStart[typeIndex &+ 1]
        while j < jEnd {
            let meterIndex = plan.typeMeters[j]
            let m = plan.meters[meterIndex]
            j &+= 1
            if let d = data, d.kind != .object, m.readsData {
                throw Rejection(.badValue, "data must be a JSON object for meter '\(catalog.meters[meterIndex].slug)'")
            }
            var value = Quantity(raw: Quantity.one)
            var unique = Hash128.zero
            if m.hasValue {
                let found: JSONValueRef?
                if let d = data {
                    found = m.valueSlot >= 0 ? slots[m.valueSlot] : catalog.meters[meterIndex].valueProperty!.locate(in: s, container: d)
                } else {
                    found = nil
                }
                guard let v = found else { throw missingValue(meterIndex) }
                switch v.kind {
                case .number:
                    value = try quantity(s.base, v, meterIndex)
                    if m.isUnique { unique = EventParser.uniqueHash(number: value) }
                case .string:
                    if m.isUnique {
                        var hu = Hasher128()
                        EventParser.combineString(&hu, s.base, v)
                        unique = hu.finalize()
                    } else {
                        value = try quantity(s.base, v, meterIndex)
                    }
                default:
                    throw badValueKind(meterIndex, v)
                }
            }
            let dimensionsHash: Hash128
            if m.groupEnd &- m.groupStart == 1, let v = oneGroupValue(slots, m.groupStart),
               let k = ShortHashMemo.key(s.base, v.start, v.end, namespace: UInt32(truncatingIfNeeded: meterIndex) &+ 1) {
                // One group with a short plain value (the usual dimension: a model, a region): hashed once per value.
                if let known = hashMemo.lookup(k) {
                    dimensionsHash = Hash128(high: known.0, low: known.1)
                } else {
                    var hd = m.firstNameState
                    hd.combine(1)
                    hd.combine(UnsafeRawBufferPointer(rebasing: s.base[v.start..<v.end]))
                    dimensionsHash = hd.finalize()
                    memoize(k, (dimensionsHash.high, dimensionsHash.low, 0))
                }
            } else {
                dimensionsHash = try hashDimensions(s, data, slots, meterIndex, m)
            }
            readingStore[readingCount] = MeterReading(meterIndex: meterIndex, value: value, uniqueKey: unique, dimensionsHash: dimensionsHash)
            readingCount &+= 1
        }
        return ParsedEvent(id: idRef, source: sourceRef, type: typeRef, subject: subjectRef, timeMicros: t, data: data,
                           identity: identity, subjectHash: subjectHash, typeIndex: typeIndex)
    }

    @inlinable
    static func decodedLength(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Int {
        ref.escaped ? JSONScanner.unescape(base, ref).count : ref.end - ref.start
    }

    // Rejections of the meter loop, out of line so the loop stays small.
    @inline(never)
    func missingValue(_ meterIndex: Int) -> Rejection {
        let meter = catalog.meters[meterIndex]
        return Rejection(.badValue, "meter '\(meter.slug)': \(meter.valueProperty!) is missing")
    }

    @inline(never)
    func badValueKind(_ meterIndex: Int, _ v: JSONValueRef) -> Rejection {
        let meter = catalog.meters[meterIndex]
        return Rejection(.badValue, "meter '\(meter.slug)': \(meter.valueProperty!) is \(v.kind == .null ? "null" : "not a number")")
    }

    @inline(never)
    func notScalar(_ meterIndex: Int, _ group: Int) -> Rejection {
        let meter = catalog.meters[meterIndex]
        let (name, path) = meter.groupBy[group]
        return Rejection(.badValue, "meter '\(meter.slug)': groupBy \(name) at \(path) is not a scalar")
    }

    /// `quantity(_:_:_:_:)` for the accept path: the meter is looked up only when the value is rejected.
    func quantity(_ base: UnsafeRawBufferPointer, _ v: JSONValueRef, _ meterIndex: Int) throws(Rejection) -> Quantity {
        if !v.escaped, case .success(let raw) = FixedPoint.parse(UnsafeRawBufferPointer(rebasing: base[v.start..<v.end]), scale: Quantity.scale) {
            return Quantity(raw: raw)
        }
        let meter = catalog.meters[meterIndex]
        return try EventParser.quantity(base, v, meter, meter.valueProperty!)
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
        if let h = canonicalSubjectHash(message) { return h }
        return peekSubjectHashGeneral(message)
    }

    /// `peekSubjectHash` for any member order: the member loop.
    static func peekSubjectHashGeneral(_ message: UnsafeRawBufferPointer) -> Hash128? {
        var s = JSONScanner(message, maxDepth: 64)
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else { return nil }
        s.pos += 1
        // Member names in the usual order are matched as byte literals (as `parse` does), not scanned.
        var expected = 0
        while true {
            s.skipWhitespace()
            let isSubject: Bool
            let e = expectedName(expected)
            if literalAt(s, e) {
                s.pos &+= e.count
                expected &+= 1
                isSubject = e.bit == 8
            } else {
                guard let k = try? s.scanString(), (try? s.expect(UInt8(ascii: ":"))) != nil else { return nil }
                isSubject = keyIs(s, k, kSubject)
            }
            guard let v = try? s.scanValue(depth: 1) else { return nil }
            if isSubject {
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
        ref.escaped ? String(decoding: JSONScanner.unescape(base, ref), as: UTF8.self)
            : String(decoding: UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end]), as: UTF8.self)
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
