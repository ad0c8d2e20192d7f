// The producer's usual event layout, recognised without the general member loop.
//
// Almost all traffic is written by one serializer per producer, so its members come in one order with no whitespace
// and no escapes: `{"specversion":"1.0","id":"…","source":"…","type":"…","subject":"…","time":"…",
// ["datacontenttype":"…",]"data":{…}}` with a flat `data` of strings, numbers, booleans and nulls. `parseCanonical`
// checks that layout with a few word compares between the string values and hands exactly the member ranges the
// general loop would have found to the same `validate`. On the first byte that does not fit it returns nil and the
// event goes through the general loop from the start, so every rejection and its message come from one place.

/// Where a message's first members end in the canonical layout, and its subject's hash, as the router finds them
/// (`EventParser.canonicalHead`) to pick the shard: the shard's parse (`parse(_:nowMicros:head:)`) then starts after
/// the subject instead of scanning the same bytes again (~280 instructions an event) and hashing the subject twice.
/// Invariant: made by `canonicalHead` from the bytes it is used with; each end is the offset of a string's closing
/// quote, so every value before `subjectEnd` is a plain string (printable ASCII, no escape).
public struct CanonicalHead: Sendable, Equatable {
    public let subjectHash: Hash128
    let idEnd: UInt16
    let sourceEnd: UInt16
    let typeEnd: UInt16
    let subjectEnd: UInt16
}

extension EventParser {
    /// The fixed text between the values of the canonical layout, each at least 8 bytes long.
    @usableFromInline static let lHead: StaticString = #"{"specversion":"1.0","id":""#
    @usableFromInline static let lSource: StaticString = #"","source":""#
    @usableFromInline static let lType: StaticString = #"","type":""#
    @usableFromInline static let lSubject: StaticString = #"","subject":""#
    @usableFromInline static let lTime: StaticString = #"","time":""#
    @usableFromInline static let lContentType: StaticString = #"","datacontenttype":""#
    @usableFromInline static let lData: StaticString = #"","data":{"#

    /// Whether the `lit.utf8CodeUnitCount` bytes at `p` are `lit` (8 to 32 bytes): four word compares.
    @inlinable @inline(__always)
    static func fixedTextAt(_ b: UnsafeRawBufferPointer, _ p: Int, _ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard p &+ n <= b.count else { return false }
        let l = UnsafeRawPointer(lit.utf8Start)
        let o1 = min(8, n &- 8), o2 = min(16, n &- 8), o3 = n &- 8
        @inline(__always) func same(_ o: Int) -> Bool {
            b.loadUnaligned(fromByteOffset: p &+ o, as: UInt64.self) == l.loadUnaligned(fromByteOffset: o, as: UInt64.self)
        }
        return same(0) && same(o1) && same(o2) && same(o3)
    }

    /// The plain string whose content starts at `start` (see `plainStringEnd`), as a value reference.
    @inlinable @inline(always)
    static func plainString(_ b: UnsafeRawBufferPointer, _ start: Int) -> JSONValueRef? {
        guard let e = plainStringEnd(b, start) else { return nil }
        return JSONValueRef(kind: .string, start: start, end: e, escaped: false)
    }

    /// The offset of the closing quote of a string whose content starts at `from` and holds only printable ASCII
    /// other than '\\'; nil when the string has an escape, a control or non-ASCII byte, or is not terminated.
    @inlinable @inline(always)
    static func plainStringEnd(_ b: UnsafeRawBufferPointer, _ from: Int) -> Int? {
        var p = from
        let end = b.count
        // Sixteen bytes per step while they fit (one branch per 16 bytes), then words.
        while p &+ 16 <= end {
            let (m0, m1) = JSONScanner.specialMask16(b, p)
            if m0 | m1 != 0 {
                p &+= m0 != 0 ? m0.trailingZeroBitCount &>> 3 : 8 &+ m1.trailingZeroBitCount &>> 3
                return b[p] == UInt8(ascii: "\"") ? p : nil
            }
            p &+= 16
        }
        while p &+ 8 <= end {
            let m = JSONScanner.specialMask(b.loadUnaligned(fromByteOffset: p, as: UInt64.self))
            if m != 0 {
                p &+= m.trailingZeroBitCount &>> 3
                return b[p] == UInt8(ascii: "\"") ? p : nil
            }
            p &+= 8
        }
        while p < end {
            let c = b[p]
            if c == UInt8(ascii: "\"") { return p }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { return nil }
            p &+= 1
        }
        return nil
    }

    /// Parses an event written in the canonical layout, exactly as `parse` would (the same result, or the same
    /// rejection from `validate`); nil when the message deviates from the layout anywhere, or when a limit would
    /// need the general path's checks (message size, depth).
    /// With `head` (from `canonicalHead` over the same bytes), the members up to the subject are taken from it.
    mutating func parseCanonical(_ m: UnsafeRawBufferPointer, nowMicros: Int64, head: CanonicalHead? = nil) throws(Rejection) -> ParsedEvent? {
        let end = m.count
        guard end <= limits.maxMessageBytes, limits.maxDepth >= 2 else { return nil }
        let spec = JSONValueRef(kind: .string, start: 16, end: 19, escaped: false)
        let id: JSONValueRef, source: JSONValueRef, type: JSONValueRef, subject: JSONValueRef
        if let h = head {
            precondition(Int(h.subjectEnd) < end, "a canonical head from other bytes")
            @inline(__always) func plain(_ start: Int, _ end: UInt16) -> JSONValueRef {
                JSONValueRef(kind: .string, start: start, end: Int(end), escaped: false)
            }
            id = plain(EventParser.lHead.utf8CodeUnitCount, h.idEnd)
            source = plain(Int(h.idEnd) &+ EventParser.lSource.utf8CodeUnitCount, h.sourceEnd)
            type = plain(Int(h.sourceEnd) &+ EventParser.lType.utf8CodeUnitCount, h.typeEnd)
            subject = plain(Int(h.typeEnd) &+ EventParser.lSubject.utf8CodeUnitCount, h.subjectEnd)
        } else {
            guard let ends = EventParser.canonicalHeadEnds(m) else { return nil }
            id = JSONValueRef(kind: .string, start: EventParser.lHead.utf8CodeUnitCount, end: ends.id, escaped: false)
            source = JSONValueRef(kind: .string, start: ends.id &+ EventParser.lSource.utf8CodeUnitCount, end: ends.source, escaped: false)
            type = JSONValueRef(kind: .string, start: ends.source &+ EventParser.lType.utf8CodeUnitCount, end: ends.type, escaped: false)
            subject = JSONValueRef(kind: .string, start: ends.type &+ EventParser.lSubject.utf8CodeUnitCount, end: ends.subject, escaped: false)
        }
        guard EventParser.fixedTextAt(m, subject.end, EventParser.lTime),
              let time = EventParser.plainString(m, subject.end &+ EventParser.lTime.utf8CodeUnitCount)
        else { return nil }
        var p = time.end
        if EventParser.fixedTextAt(m, p, EventParser.lContentType) {
            guard let contentType = EventParser.plainString(m, p &+ EventParser.lContentType.utf8CodeUnitCount) else { return nil }
            p = contentType.end
        }
        guard EventParser.fixedTextAt(m, p, EventParser.lData) else { return nil }
        let dataStart = p &+ EventParser.lData.utf8CodeUnitCount &- 1
        p = dataStart &+ 1
        // The flat data object: `"key":value` members without whitespace, values not containers.
        var slots = DataSlots()
        let all: UInt8 = UInt8((1 << plan.wantedCount) - 1)
        let s = JSONScanner(m, maxDepth: limits.maxDepth)
        guard p < end else { return nil }
        if m[p] == UInt8(ascii: "}") {
            p &+= 1
        } else {
            while true {
                guard p < end, m[p] == UInt8(ascii: "\""), let key = EventParser.plainString(m, p &+ 1) else { return nil }
                p = key.end &+ 1
                guard p < end, m[p] == UInt8(ascii: ":") else { return nil }
                p &+= 1
                guard p < end else { return nil }
                let v: JSONValueRef
                switch m[p] {
                case UInt8(ascii: "\""):
                    guard let sv = EventParser.plainString(m, p &+ 1) else { return nil }
                    v = sv
                    p = sv.end &+ 1
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    var n = JSONScanner(m, start: p, maxDepth: limits.maxDepth)
                    guard let nv = try? n.scanNumber() else { return nil }
                    v = nv
                    p = n.pos
                case UInt8(ascii: "t"):
                    guard p &+ 4 <= end, m.loadUnaligned(fromByteOffset: p, as: UInt32.self) == EventParser.wordTrue else { return nil }
                    v = JSONValueRef(kind: .trueValue, start: p, end: p &+ 4, escaped: false)
                    p &+= 4
                case UInt8(ascii: "f"):
                    guard p &+ 5 <= end, m.loadUnaligned(fromByteOffset: p &+ 1, as: UInt32.self) == EventParser.wordAlse else { return nil }
                    v = JSONValueRef(kind: .falseValue, start: p, end: p &+ 5, escaped: false)
                    p &+= 5
                case UInt8(ascii: "n"):
                    guard p &+ 4 <= end, m.loadUnaligned(fromByteOffset: p, as: UInt32.self) == EventParser.wordNull else { return nil }
                    v = JSONValueRef(kind: .null, start: p, end: p &+ 4, escaped: false)
                    p &+= 4
                default:
                    return nil
                }
                if slots.filled != all { plan.record(s, key, v, &slots) }
                guard p < end else { return nil }
                let c = m[p]
                p &+= 1
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { return nil }
            }
        }
        let data = JSONValueRef(kind: .object, start: dataStart, end: p, escaped: false)
        guard p &+ 1 == end, m[p] == UInt8(ascii: "}") else { return nil }
        return try validate(s, spec: spec, id: id, source: source, type: type, subject: subject, time: time, data: data,
                            slots: slots, nowMicros: nowMicros, subjectHash: head?.subjectHash)
    }

    /// `true`, `null` and the last four bytes of `false` as little-endian words.
    @usableFromInline static let wordTrue: UInt32 = 0x6575_7274
    @usableFromInline static let wordNull: UInt32 = 0x6C6C_756E
    @usableFromInline static let wordAlse: UInt32 = 0x6573_6C61

    /// `peekSubjectHash` for an event whose first members are in the canonical layout; nil when they are not.
    static func canonicalSubjectHash(_ m: UnsafeRawBufferPointer) -> Hash128? {
        guard let ends = canonicalHeadEnds(m) else { return nil }
        return subjectHash(m, ends.type, ends.subject)
    }

    /// The closing quotes of `id`, `source`, `type` and `subject` when the message starts in the canonical layout.
    @inline(__always)
    static func canonicalHeadEnds(_ m: UnsafeRawBufferPointer) -> (id: Int, source: Int, type: Int, subject: Int)? {
        guard fixedTextAt(m, 0, lHead),
              let idEnd = plainStringEnd(m, lHead.utf8CodeUnitCount), fixedTextAt(m, idEnd, lSource),
              let sourceEnd = plainStringEnd(m, idEnd &+ lSource.utf8CodeUnitCount), fixedTextAt(m, sourceEnd, lType),
              let typeEnd = plainStringEnd(m, sourceEnd &+ lType.utf8CodeUnitCount), fixedTextAt(m, typeEnd, lSubject),
              let subjectEnd = plainStringEnd(m, typeEnd &+ lSubject.utf8CodeUnitCount)
        else { return nil }
        return (idEnd, sourceEnd, typeEnd, subjectEnd)
    }

    @inline(__always)
    static func subjectHash(_ m: UnsafeRawBufferPointer, _ typeEnd: Int, _ subjectEnd: Int) -> Hash128 {
        var h = Hasher128()
        h.combine(UnsafeRawBufferPointer(rebasing: m[(typeEnd &+ lSubject.utf8CodeUnitCount)..<subjectEnd]))
        return h.finalize()
    }

    /// The canonical head of a message for the router: its subject's hash (the same as `peekSubjectHash`'s) and
    /// where its first members end; nil when the message does not start in the canonical layout or is 64 KiB or
    /// longer (the parse then scans it itself).
    public static func canonicalHead(_ m: UnsafeRawBufferPointer) -> CanonicalHead? {
        guard m.count <= Int(UInt16.max), let e = canonicalHeadEnds(m) else { return nil }
        return CanonicalHead(subjectHash: subjectHash(m, e.type, e.subject), idEnd: UInt16(truncatingIfNeeded: e.id),
                             sourceEnd: UInt16(truncatingIfNeeded: e.source), typeEnd: UInt16(truncatingIfNeeded: e.type),
                             subjectEnd: UInt16(truncatingIfNeeded: e.subject))
    }
}
