// Test support for the ERP exports: a known workload, a strict RFC 4180 reader, golden files, python3.
import Foundation
import MeterlineCore
@testable import MeterlineLedger
import Testing

enum ExportWorkload {
    static let day1 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
    static let day2 = RFC3339.parseMicros("2026-10-02T00:00:00Z")!
    static let usd = Currency(code: "USD")!
    static let eur = Currency(code: "EUR")!
    static let jpy = Currency(code: "JPY")!

    /// A subject with a comma, double quotes, an apostrophe, & and <: CSV quoting and XML escaping.
    static let trickySubject = "O'Brien & Sons, \"Ltd\" <EU>"
    /// Non-ASCII subjects (Latin-1 range, CJK) and one long enough to be cut at SAP's 50 characters.
    static let japaneseSubject = "田中商事"
    static let longSubject = "Müller-Lüdenscheidt Gesellschaft für Datenverarbeitung mbH"

    static let entities: [LegalEntity] = [
        LegalEntity(id: "us-inc", currency: usd, unbilledReceivable: "1210", usageRevenue: "4010",
                    erp: ["netsuiteSubsidiary": "US Inc", "oracleLedger": "US Primary Ledger", "oracleLedgerId": "300000046975971",
                          "oracleCompanySegmentValue": "101", "oracleSegment4": "000", "sapCompanyCode": "1000", "sapGLAccountZeroPad": "true"]),
        LegalEntity(id: "eu-gmbh", currency: eur, unbilledReceivable: "1210", usageRevenue: "4020", revenueByMeter: ["api_calls": "4021"],
                    erp: ["netsuiteSubsidiary": "EU GmbH", "oracleLedger": "EU Primary Ledger", "oracleAccountSegment": "SEGMENT2",
                          "oracleJournalCategory": "Usage Revenue", "oracleConversionType": "Corporate", "sapCompanyCode": "2000"]),
    ]

    static func line(_ n: Int, _ account: String, _ subject: String?, debit: Int128 = 0, credit: Int128 = 0) -> JournalLine {
        let memoBase = account == "1210" ? "Unbilled usage receivable" : "Usage revenue"
        let hex = String(format: "%020lx", 0xA1B2_C3D4 &* n &+ n)
        let event = String(format: "%032lx", n &* 7919)
        return JournalLine(lineId: "JL-" + hex, account: account, subject: subject, debit: debit, credit: credit,
                           memo: subject.map { "\(memoBase) \($0)" } ?? memoBase, billingEvents: [event])
    }

    /// Four entries, deliberately not in canonical order.
    static var entries: [JournalEntry] {
        [
            // eu-gmbh EUR, day 2, part 2: summary detail (no subject).
            JournalEntry(journalId: "JE-0c1d2e3f405162738495-2", entity: "eu-gmbh", currency: eur, postingDate: day2, period: "2026-10",
                         part: 2, lines: [line(31, "1210", nil, debit: 7), line(32, "4020", nil, credit: 7)]),
            // us-inc USD, day 1: a plain customer and a customer whose name needs quoting/escaping.
            JournalEntry(journalId: "JE-a0b1c2d3e4f506172839-1", entity: "us-inc", currency: usd, postingDate: day1, period: "2026-10",
                         part: 1, lines: [
                            line(1, "1210", "acme", debit: 1300), line(2, "4010", "acme", credit: 1300),
                            line(3, "1210", trickySubject, debit: 250), line(4, "4010", trickySubject, credit: 250),
                         ]),
            // eu-gmbh EUR, day 2, part 1: two revenue accounts, a long non-ASCII customer name, two periods.
            JournalEntry(journalId: "JE-0c1d2e3f405162738495-1", entity: "eu-gmbh", currency: eur, postingDate: day2, period: "2026-09,2026-10",
                         part: 1, lines: [
                            line(21, "1210", longSubject, debit: 1_234_567), line(22, "4020", longSubject, credit: 1_234_500),
                            line(23, "4021", longSubject, credit: 67),
                         ]),
            // us-inc JPY (0 minor digits), day 1: a reversal (a negative increment: Dr revenue / Cr receivable) and a normal pair.
            JournalEntry(journalId: "JE-ffeeddccbbaa99887766-1", entity: "us-inc", currency: jpy, postingDate: day1, period: "2026-10",
                         part: 1, lines: [
                            line(11, "4010", japaneseSubject, debit: 1300), line(12, "1210", japaneseSubject, credit: 1300),
                            line(13, "1210", "sato", debit: 45000), line(14, "4010", "sato", credit: 45000),
                         ]),
        ]
    }

    static var lineCount: Int { entries.reduce(0) { $0 + $1.lines.count } }
}

/// Golden files next to this source file.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Compares `actual` with Golden/`name`; METERLINE_UPDATE_GOLDEN=1 (re)writes the file instead.
    static func check(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["METERLINE_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url)
            return
        }
        let data = try #require(FileManager.default.contents(atPath: url.path), "missing golden file \(url.path); run with METERLINE_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
        let expected = String(decoding: data, as: UTF8.self)
        #expect(actual == expected, "export differs from Golden/\(name) (METERLINE_UPDATE_GOLDEN=1 rewrites it)", sourceLocation: sourceLocation)
    }
}

/// A strict RFC 4180 reader: every record ends with `terminator`, quotes only around whole fields, "" inside them.
enum StrictCSV {
    struct Failure: Error, CustomStringConvertible { var record: Int; var message: String; var description: String { "record \(record): \(message)" } }

    static func parse(_ text: String, terminator: String) throws -> [[String]] {
        let s = Array(text.unicodeScalars)
        let term = Array(terminator.unicodeScalars)
        var records: [[String]] = []
        var fields: [String] = []
        var i = 0
        func atTerminator(_ k: Int) -> Bool { k + term.count <= s.count && Array(s[k..<(k + term.count)]) == term }
        guard !s.isEmpty else { return [] }
        while i < s.count {
            var field = String.UnicodeScalarView()
            if s[i] == "\"" {
                i += 1
                while true {
                    guard i < s.count else { throw Failure(record: records.count + 1, message: "unterminated quoted field") }
                    if s[i] == "\"" {
                        if i + 1 < s.count, s[i + 1] == "\"" { field.append("\""); i += 2; continue }
                        i += 1
                        break
                    }
                    field.append(s[i]); i += 1
                }
                guard i < s.count, s[i] == "," || atTerminator(i) else { throw Failure(record: records.count + 1, message: "text after a closing quote") }
            } else {
                while i < s.count, s[i] != ",", !atTerminator(i) {
                    if s[i] == "\"" { throw Failure(record: records.count + 1, message: "quote inside an unquoted field") }
                    if s[i] == "\r" || s[i] == "\n" { throw Failure(record: records.count + 1, message: "bare line break (wrong record terminator?)") }
                    field.append(s[i]); i += 1
                }
                guard i < s.count else { throw Failure(record: records.count + 1, message: "last record has no terminator") }
            }
            fields.append(String(field))
            if s[i] == "," { i += 1; continue }
            i += term.count
            records.append(fields)
            fields = []
        }
        return records
    }
}

enum Python {
    static let available: Bool = (try? run("import csv")) != nil

    /// Runs `python3 -c script args…`; returns stdout, throws on a non-zero exit.
    @discardableResult
    static func run(_ script: String, _ args: [String] = []) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw StrictCSV.Failure(record: 0, message: "python3 exited \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }
}

/// "13.00" with `digits` fraction digits → 1300; "-0.05" → -5. Strict: exactly `digits` digits after the point.
func minorUnits(_ s: String, digits: Int) -> Int128? {
    var t = Substring(s)
    let negative = t.first == "-"
    if negative { t = t.dropFirst() }
    let parts = t.split(separator: ".", omittingEmptySubsequences: false)
    if digits == 0 { guard parts.count == 1 else { return nil } } else { guard parts.count == 2, parts[1].count == digits else { return nil } }
    guard let v = Int128(parts.joined()), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }) else { return nil }
    return negative ? -v : v
}
