// Reading journal-entries.jsonl back into `JournalEntry` values (the input of the ERP exporters).
//
// A small strict JSON reader of our own rather than JSONSerialization: amounts are Int128 minor units and
// may exceed 2^53 (JSONSerialization would hand them back as Double), and we want errors that say which
// line and which field is wrong. The accepted form is schemas/journal-entry.schema.json.
import Foundation
import MeterlineCore

extension JournalEntry {
    /// Decodes one line of journal-entries.jsonl (the form `json()` writes). Throws `JournalReadError`
    /// with `line` set to `lineNumber`.
    public static func decode(jsonLine text: String, lineNumber: Int = 1) throws(JournalReadError) -> JournalEntry {
        func fail(_ m: String) -> JournalReadError { JournalReadError(line: lineNumber, message: m) }
        var p = MiniJSON(Array(text.utf8))
        let root: MiniJSON.Value
        do { root = try p.document() } catch { throw fail("not valid JSON: \(error.message) at byte \(error.offset + 1)") }
        guard case .object(let o) = root else { throw fail("expected a JSON object (one journal entry per line)") }
        let known: Set<String> = ["journalId", "entity", "currency", "postingDate", "period", "part", "lines"]
        if let extra = o.keys.first(where: { !known.contains($0) }) { throw fail("unknown field \"\(extra)\"") }

        func string(_ obj: [String: MiniJSON.Value], _ key: String, _ path: String, optional: Bool = false) throws(JournalReadError) -> String? {
            guard let v = obj[key] else {
                if optional { return nil }
                throw fail("missing field \(path)\(key)")
            }
            guard case .string(let s) = v else { throw fail("\(path)\(key): expected a string") }
            guard !s.isEmpty else { throw fail("\(path)\(key): must not be empty") }
            return s
        }
        func integer(_ obj: [String: MiniJSON.Value], _ key: String, _ path: String) throws(JournalReadError) -> Int128 {
            guard let v = obj[key] else { throw fail("missing field \(path)\(key)") }
            guard case .number(let raw) = v else { throw fail("\(path)\(key): expected an integer") }
            guard let n = Int128(raw) else { throw fail("\(path)\(key): expected an integer in minor units, got \(raw)") }
            return n
        }

        let journalId = try string(o, "journalId", "")!
        guard isJournalId(journalId) else { throw fail("journalId \"\(journalId)\" is not of the form JE-<20 hex>-<part>") }
        let entity = try string(o, "entity", "")!
        let code = try string(o, "currency", "")!
        guard let currency = Currency(code: code) else { throw fail("currency \"\(code)\" is not an ISO 4217 code (3 uppercase letters)") }
        let date = try string(o, "postingDate", "")!
        guard date.utf8.count == 10, let postingDate = RFC3339.parseMicros(date + "T00:00:00Z") else {
            throw fail("postingDate \"\(date)\" is not a date YYYY-MM-DD")
        }
        let period = try string(o, "period", "")!
        let partRaw = try integer(o, "part", "")
        guard partRaw >= 1, partRaw <= 1_000_000 else { throw fail("part must be ≥ 1, got \(partRaw)") }
        guard case .array(let rawLines)? = o["lines"] else { throw fail(o["lines"] == nil ? "missing field lines" : "lines: expected an array") }
        guard rawLines.count >= 2 else { throw fail("lines: expected at least one debit and one credit line, got \(rawLines.count)") }
        var lines: [JournalLine] = []
        lines.reserveCapacity(rawLines.count)
        let knownLine: Set<String> = ["lineId", "account", "subject", "debit", "credit", "memo", "billingEvents"]
        for (i, rl) in rawLines.enumerated() {
            let path = "lines[\(i)]."
            guard case .object(let lo) = rl else { throw fail("lines[\(i)]: expected an object") }
            if let extra = lo.keys.first(where: { !knownLine.contains($0) }) { throw fail("lines[\(i)]: unknown field \"\(extra)\"") }
            let lineId = try string(lo, "lineId", path)!
            let account = try string(lo, "account", path)!
            let subject = try string(lo, "subject", path, optional: true)
            let debit = try integer(lo, "debit", path)
            let credit = try integer(lo, "credit", path)
            guard debit >= 0, credit >= 0 else { throw fail("\(path)debit/credit must not be negative (got \(debit)/\(credit))") }
            guard (debit == 0) != (credit == 0) else { throw fail("\(path): exactly one of debit and credit must be non-zero (got \(debit)/\(credit))") }
            let memo = try string(lo, "memo", path)!
            var events: [String] = []
            if let be = lo["billingEvents"] {
                guard case .array(let arr) = be else { throw fail("\(path)billingEvents: expected an array of strings") }
                for b in arr {
                    guard case .string(let s) = b else { throw fail("\(path)billingEvents: expected an array of strings") }
                    events.append(s)
                }
            } else {
                throw fail("missing field \(path)billingEvents")
            }
            lines.append(JournalLine(lineId: lineId, account: account, subject: subject, debit: debit, credit: credit, memo: memo, billingEvents: events))
        }
        let entry = JournalEntry(journalId: journalId, entity: entity, currency: currency, postingDate: postingDate, period: period,
                                 part: Int(partRaw), lines: lines)
        guard entry.isBalanced else {
            throw fail("journal entry \(journalId) does not balance: debit \(entry.totalDebit) ≠ credit \(entry.totalCredit)")
        }
        return entry
    }

    static func isJournalId(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 25, u.starts(with: Array("JE-".utf8)), u[23] == UInt8(ascii: "-") else { return false }
        let hexOK = u[3..<23].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        let part = u[24...]
        let partOK = part.first != UInt8(ascii: "0") && part.allSatisfy { $0 >= 48 && $0 <= 57 }
        return hexOK && partOK
    }
}

/// A journal-entries.jsonl line that could not be read: `line` is 1-based.
public struct JournalReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var line: Int
    public var message: String
    public init(file: String? = nil, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { "\(file ?? "input"):\(line): \(message)" }
}

/// Reads journal-entries.jsonl.
public enum JournalEntriesReader {
    /// Parses JSON Lines text: one entry per non-blank line.
    public static func parse(_ text: String, file: String? = nil) throws(JournalReadError) -> [JournalEntry] {
        var out: [JournalEntry] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(raw)
            if line.last == "\r" { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do { out.append(try JournalEntry.decode(jsonLine: String(line), lineNumber: lineNumber)) } catch {
                var e = error
                e.file = file
                throw e
            }
        }
        return out
    }

    /// Reads and parses a file.
    public static func read(path: String) throws(JournalReadError) -> [JournalEntry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalReadError(file: path, line: 0, message: "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JournalReadError(file: path, line: 0, message: "not UTF-8")
        }
        return try parse(text, file: path)
    }
}

/// A minimal strict JSON (RFC 8259) reader; numbers are kept as their source text.
struct MiniJSON {
    indirect enum Value { case object([String: Value]), array([Value]), string(String), number(String), bool(Bool), null }
    struct Failure: Error { var offset: Int; var message: String }

    let b: [UInt8]
    var i = 0
    init(_ bytes: [UInt8]) { b = bytes }

    mutating func document() throws(Failure) -> Value {
        let v = try value(depth: 0)
        ws()
        guard i == b.count else { throw Failure(offset: i, message: "unexpected text after the value") }
        return v
    }

    mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }

    mutating func literal(_ s: String, _ v: Value) throws(Failure) -> Value {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { throw Failure(offset: i, message: "unexpected character") }
        i += u.count
        return v
    }

    mutating func value(depth: Int) throws(Failure) -> Value {
        guard depth < 32 else { throw Failure(offset: i, message: "nested too deeply") }
        ws()
        guard i < b.count else { throw Failure(offset: i, message: "unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o: [String: Value] = [:]
            ws()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                ws()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Failure(offset: i, message: "expected a key string") }
                let k = try string()
                ws()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw Failure(offset: i, message: "expected ':'") }
                i += 1
                let v = try value(depth: depth + 1)
                guard o[k] == nil else { throw Failure(offset: i, message: "duplicate key \"\(k)\"") }
                o[k] = v
                ws()
                guard i < b.count else { throw Failure(offset: i, message: "unexpected end of input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw Failure(offset: i, message: "expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [Value] = []
            ws()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                a.append(try value(depth: depth + 1))
                ws()
                guard i < b.count else { throw Failure(offset: i, message: "unexpected end of input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw Failure(offset: i, message: "expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return .number(try number())
        }
    }

    mutating func number() throws(Failure) -> String {
        let start = i
        func digits() -> Int { let s = i; while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }; return i - s }
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw Failure(offset: start, message: "unexpected character") }
        if b[i] == 48 { i += 1 } else { _ = digits() }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw Failure(offset: i, message: "digits expected after '.'") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw Failure(offset: i, message: "digits expected in the exponent") }
        }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= b.count else { throw Failure(offset: i, message: "bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw Failure(offset: i, message: "bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws(Failure) -> String {
        i += 1 // opening quote
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw Failure(offset: i, message: "unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw Failure(offset: i, message: "control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw Failure(offset: i, message: "unterminated string") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800, scalar < 0xDC00 {
                    guard i + 2 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw Failure(offset: i, message: "unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00, low < 0xE000 else { throw Failure(offset: i, message: "unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    throw Failure(offset: i, message: "unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw Failure(offset: i, message: "bad \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw Failure(offset: i - 1, message: "bad escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw Failure(offset: i, message: "string is not valid UTF-8") }
        return s
    }
}
