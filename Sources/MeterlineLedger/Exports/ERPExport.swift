// ERP exports of journal entries: NetSuite CSV import, Oracle Fusion FBDI GL interface CSV, SAP S/4HANA
// JournalEntryBulkCreateRequest SOAP payload. docs/erp-exports.md documents every column and what to check
// against the vendor's current documentation.
//
// Invariants: the bytes depend only on the entries, the entities' ERP mapping and the options (no clock,
// no locale, no hash-map order); entries are written in a canonical order (posting date, entity, currency,
// part, journal id), lines in their order within the entry; every written entry balances.
import MeterlineCore

/// The ERP file formats.
public enum ExportFormat: String, CaseIterable, Sendable {
    case netsuite
    case oracleFBDI = "oracle-fbdi"
    case sap
}

/// An export that cannot be written (unbalanced entry, missing ERP mapping, a vendor limit exceeded).
public struct ExportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Settings that are not per entity.
public struct ExportOptions: Sendable, Equatable {
    /// Stamped into Oracle DATE_CREATED and SAP MessageHeader/CreationDateTime (UTC microseconds).
    /// nil (default): each entry's posting date, which keeps the output a pure function of the entries.
    public var createdAt: Int64?
    public init(createdAt: Int64? = nil) { self.createdAt = createdAt }
}

/// The three exporters behind one entry point.
public enum ERPExport {
    /// Renders `entries` in `format`. `entities` (from the config) supplies each entity's `erp` mapping; nil means
    /// no config: every mapping key takes its default (and formats that need one, SAP's company code, fail).
    /// With a config, an entry naming an entity that is not in it is an error.
    public static func render(_ entries: [JournalEntry], format: ExportFormat, entities: [LegalEntity]?,
                              options: ExportOptions = ExportOptions()) throws(ExportError) -> String {
        let prepared = try prepare(entries, entities: entities)
        switch format {
        case .netsuite: return NetSuiteExporter.render(prepared)
        case .oracleFBDI: return try OracleFBDIExporter.render(prepared, options: options)
        case .sap: return try SAPJournalEntryExporter.render(prepared, options: options)
        }
    }

    /// A line normalised to one non-negative side.
    struct Line {
        var lineId: String
        var account: String
        var subject: String?
        var debit: Int128
        var credit: Int128
        var memo: String
    }

    struct Entry {
        var journalId: String
        var entity: String
        var erp: [String: String]
        var currency: Currency
        var postingDate: Int64
        var period: String
        var part: Int
        var lines: [Line]
    }

    /// Validates, normalises and orders the entries.
    /// A line's net (debit − credit) goes on the debit side when positive, the credit side when negative (so a
    /// negative debit becomes a credit); a zero line is dropped. Each entry must balance and keep ≥ 1 line.
    static func prepare(_ entries: [JournalEntry], entities: [LegalEntity]?) throws(ExportError) -> [Entry] {
        var byId: [String: LegalEntity]? = nil
        if let entities { byId = Dictionary(entities.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }) }
        var seen = Set<String>()
        var out: [Entry] = []
        out.reserveCapacity(entries.count)
        for e in entries {
            guard seen.insert(e.journalId).inserted else { throw ExportError("journal \(e.journalId) appears twice in the input") }
            var erp: [String: String] = [:]
            if let byId {
                guard let le = byId[e.entity] else { throw ExportError("journal \(e.journalId): entity \"\(e.entity)\" is not in the config's entities") }
                erp = le.erp
            }
            var lines: [Line] = []
            lines.reserveCapacity(e.lines.count)
            var dr: Int128 = 0, cr: Int128 = 0
            for l in e.lines {
                let (net, overflow) = l.debit.subtractingReportingOverflow(l.credit)
                guard !overflow else { throw ExportError("journal \(e.journalId) line \(l.lineId): amount overflows") }
                if net == 0 { continue }
                let d: Int128 = net > 0 ? net : 0
                let c: Int128 = net < 0 ? -net : 0
                dr += d
                cr += c
                lines.append(Line(lineId: l.lineId, account: l.account, subject: l.subject, debit: d, credit: c, memo: l.memo))
            }
            guard dr == cr else { throw ExportError("journal \(e.journalId) does not balance: debit \(dr) ≠ credit \(cr) (minor units)") }
            guard !lines.isEmpty else { throw ExportError("journal \(e.journalId) has no non-zero lines") }
            out.append(Entry(journalId: e.journalId, entity: e.entity, erp: erp, currency: e.currency, postingDate: e.postingDate,
                             period: e.period, part: e.part, lines: lines))
        }
        out.sort { ($0.postingDate, $0.entity, $0.currency.code, $0.part, $0.journalId) < ($1.postingDate, $1.entity, $1.currency.code, $1.part, $1.journalId) }
        return out
    }

    // MARK: formatting helpers shared by the exporters

    /// Minor units as a plain decimal with exactly the currency's digits: 1300 → "13.00" (USD), "1300" (JPY),
    /// -5 → "-0.05". Period as decimal separator, no grouping, no exponent.
    static func decimal(_ minor: Int128, digits: Int) -> String {
        let negative = minor < 0
        var s = String(minor.magnitude)
        if digits > 0 {
            if s.count <= digits { s = String(repeating: "0", count: digits - s.count + 1) + s }
            s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
        }
        return negative ? "-" + s : s
    }

    /// The UTC calendar date of `micros`.
    static func civil(_ micros: Int64) -> (year: Int, month: Int, day: Int) {
        RFC3339.civilFromDays(Int(UTC.floor(micros, UTC.microsPerDay) / UTC.microsPerDay))
    }

    static func pad(_ v: Int, _ w: Int) -> String {
        let s = String(v)
        return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
    }

    /// Control characters (C0, DEL, C1, line and paragraph separators) become spaces: every format here is one
    /// record per physical line or an XML text node, and ERP description fields are single-line.
    static func singleLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars { out.append(isControl(u) ? " " : u) }
        return String(out)
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0) || u.value == 0x2028 || u.value == 0x2029
    }

    /// At most `limit` UTF-16 code units (how SAP and Oracle count characters), cut at a character boundary.
    static func truncate(_ s: String, utf16 limit: Int) -> String {
        guard s.utf16.count > limit else { return s }
        var out = ""
        var n = 0
        for ch in s {
            let w = ch.utf16.count
            if n + w > limit { break }
            out.append(ch)
            n += w
        }
        return out
    }
}

/// RFC 4180 CSV fields and records.
enum CSV {
    /// Quoted when it contains a comma, a double quote, CR or LF, or leading/trailing spaces; quotes doubled.
    static func field(_ s: String) -> String {
        let needs = s.utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            || s.first == " " || s.last == " "
        guard needs else { return s }
        return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }

    static func record(_ fields: [String], terminator: String) -> String {
        fields.map(field).joined(separator: ",") + terminator
    }
}

extension String {
    /// Replaces every occurrence of a one-character string (no Foundation in the formatting path).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
