import MeterlineCore
@testable import MeterlineEngine
import Testing

/// The backfill's report table shows every value whole: a column is padded to its width but never cut, so a long
/// customer id or a total wider than its column is printed in full (and still followed by a space).
@Suite struct ReportTableTests {
    @Test func longCustomerIdsAndAmountsArePrintedWhole() throws {
        var r = BackfillReport(from: RFC3339.parseMicros("2026-10-01T00:00:00Z")!, to: RFC3339.parseMicros("2026-11-01T00:00:00Z")!)
        r.previous = "/prev"
        let subject = "enterprise-customer-0000123456789"
        let before = try Amount("123456789012.123456789"), after = try Amount("123456789013.5")
        r.changes = ["us-inc|USD|\(subject)": (before, after), "us-inc|USD|acme": (try Amount("1"), try Amount("2"))]
        r.totals = ["a-very-long-legal-entity-name|USD|2026-10": try Amount("98765432109876.123456789")]
        let table = r.table()
        let row = try #require(table.split(separator: "\n").first { $0.contains("enterprise-customer") }, "\(table)")
        #expect(row.contains(subject + " "), "\(row)")
        #expect(row.contains(before.description + " "), "\(row)")
        #expect(row.contains(after.description + " "), "\(row)")
        #expect(row.hasSuffix(" " + (try after.subtracting(before)).description), "\(row)")
        #expect(table.contains("a-very-long-legal-entity-name USD 2026-10 98765432109876.123456789"), "\(table)")
        // Short values keep the fixed columns.
        #expect(table.contains("  us-inc    USD       acme                  1                   2                   1\n"), "\(table)")
    }

    @Test func columnsPadButNeverCut() {
        #expect(TextColumn.pad("ab", 5) == "ab   ")
        #expect(TextColumn.pad("abcde", 5) == "abcde ")
        #expect(TextColumn.pad("abcdefg", 5) == "abcdefg ")
        #expect(TextColumn.pad("", 2) == "  ")
        #expect(TextColumn.pad("žluť", 6) == "žluť  ", "characters, not bytes")
    }
}
