/// How a meter aggregates event values (OpenMeter's names).
public enum Aggregation: String, Sendable, CaseIterable {
    case sum = "SUM", count = "COUNT", min = "MIN", max = "MAX", avg = "AVG"
    case uniqueCount = "UNIQUE_COUNT", latest = "LATEST"

    /// Whether the period aggregate is the sum of window aggregates.
    public var isAdditive: Bool { self == .sum || self == .count }
    /// Whether the meter needs a `valueProperty`.
    public var needsValue: Bool { self != .count }
}

/// A tumbling rollup window size, aligned to UTC.
public enum WindowSize: String, Sendable, CaseIterable {
    case minute = "MINUTE", hour = "HOUR", day = "DAY"
    public var micros: Int64 {
        switch self {
        case .minute: 60_000_000
        case .hour: 3_600_000_000
        case .day: 86_400_000_000
        }
    }
}

/// A JSONPath into an event's `data` (OpenMeter semantics): `$.a`, `$.a.b`, `$["a b"]`, `$.a[0]`.
/// Invariant: at least one segment; keys are UTF-8 bytes compared exactly (after unescaping).
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        case key([UInt8])
        case index(Int)
    }
    public let segments: [Segment]
    public let text: String
    public var description: String { text }

    /// Parses `text`; the error says what was expected.
    public init(_ text: String) throws(DecimalError) {
        self.text = text
        let b = Array(text.utf8)
        var i = 0
        func fail(_ m: String) -> DecimalError { DecimalError(.syntax, "JSONPath \(text): \(m)") }
        guard b.first == UInt8(ascii: "$") else { throw fail("must start with '$'") }
        i = 1
        var segs: [Segment] = []
        while i < b.count {
            if b[i] == UInt8(ascii: ".") {
                i += 1
                let s = i
                while i < b.count && b[i] != UInt8(ascii: ".") && b[i] != UInt8(ascii: "[") { i += 1 }
                guard i > s else { throw fail("empty key after '.'") }
                segs.append(.key(Array(b[s..<i])))
            } else if b[i] == UInt8(ascii: "[") {
                i += 1
                guard i < b.count else { throw fail("unterminated '['") }
                if b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") {
                    let q = b[i]
                    i += 1
                    var key: [UInt8] = []
                    while i < b.count && b[i] != q {
                        if b[i] == UInt8(ascii: "\\") && i + 1 < b.count { i += 1 }
                        key.append(b[i])
                        i += 1
                    }
                    guard i + 1 < b.count, b[i + 1] == UInt8(ascii: "]") else { throw fail("unterminated quoted key") }
                    i += 2
                    segs.append(.key(key))
                } else {
                    var n = 0
                    let s = i
                    while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
                        let (m, o1) = n.multipliedReportingOverflow(by: 10)
                        let (a, o2) = m.addingReportingOverflow(Int(b[i] - 0x30))
                        guard !o1 && !o2 else { throw fail("array index too large") }
                        n = a
                        i += 1
                    }
                    guard i > s, i < b.count, b[i] == UInt8(ascii: "]") else { throw fail("expected an array index or a quoted key") }
                    i += 1
                    segs.append(.index(n))
                }
            } else {
                throw fail("unexpected character at \(i)")
            }
        }
        guard !segs.isEmpty else { throw fail("the path names nothing") }
        self.segments = segs
    }

    /// Finds the value this path names inside the object or array at `container`.
    @inlinable
    public func locate(in scanner: JSONScanner, container: JSONValueRef) -> JSONValueRef? {
        var current = container
        for seg in segments {
            var s = JSONScanner(scanner.base, start: current.start, end: current.end, maxDepth: Int.max)
            switch seg {
            case .key(let key):
                guard current.kind == .object else { return nil }
                s.pos += 1
                var found: JSONValueRef? = nil
                s.skipWhitespace()
                if s.peek() == UInt8(ascii: "}") { return nil }
                while true {
                    s.skipWhitespace()
                    guard let k = try? s.scanString() else { return nil }
                    guard (try? s.expect(UInt8(ascii: ":"))) != nil, let v = try? s.scanValue(depth: 0) else { return nil }
                    let match = key.withUnsafeBytes { s.stringEquals(k, $0) }
                    if match { found = v; break }
                    s.skipWhitespace()
                    guard let c = s.peek(), c == UInt8(ascii: ",") else { return nil }
                    s.pos += 1
                }
                guard let f = found else { return nil }
                current = f
            case .index(let index):
                guard current.kind == .array else { return nil }
                s.pos += 1
                s.skipWhitespace()
                if s.peek() == UInt8(ascii: "]") { return nil }
                var i = 0
                while true {
                    guard let v = try? s.scanValue(depth: 0) else { return nil }
                    if i == index { current = v; break }
                    i += 1
                    s.skipWhitespace()
                    guard let c = s.peek(), c == UInt8(ascii: ",") else { return nil }
                    s.pos += 1
                }
            }
        }
        return current
    }
}

/// A meter (OpenMeter-compatible definition plus the rollup window size).
/// Invariant: `valueProperty` is present unless `aggregation` is COUNT; groupBy names are unique and sorted.
public struct Meter: Sendable, Equatable {
    public var slug: String
    public var eventType: String
    public var aggregation: Aggregation
    public var valueProperty: JSONPath?
    /// Dimension name → path, sorted by name (the canonical dimension order).
    public var groupBy: [(name: String, path: JSONPath)]
    public var windowSize: WindowSize
    public var description: String?

    public init(slug: String, eventType: String, aggregation: Aggregation, valueProperty: JSONPath?,
                groupBy: [(name: String, path: JSONPath)] = [], windowSize: WindowSize = .hour, description: String? = nil) {
        precondition(aggregation == .count || valueProperty != nil, "meter \(slug): valueProperty required for \(aggregation.rawValue)")
        self.slug = slug
        self.eventType = eventType
        self.aggregation = aggregation
        self.valueProperty = valueProperty
        self.groupBy = groupBy.sorted { $0.name < $1.name }
        self.windowSize = windowSize
        self.description = description
    }

    public static func == (a: Meter, b: Meter) -> Bool {
        a.slug == b.slug && a.eventType == b.eventType && a.aggregation == b.aggregation
            && a.valueProperty == b.valueProperty && a.windowSize == b.windowSize
            && a.groupBy.map(\.name) == b.groupBy.map(\.name) && a.groupBy.map(\.path) == b.groupBy.map(\.path)
    }
}
