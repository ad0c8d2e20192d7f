// NetSuite journal entry CSV import (Setup > Import/Export > Import CSV Records, Transactions > Journal Entry).
//
// One header row, then one row per journal line; rows that share "External ID" form one journal entry in the
// Import Assistant. RFC 4180: comma-separated, CRLF, UTF-8 without BOM, fields quoted only when needed.
// Column names are NetSuite's Journal Entry field labels so the Import Assistant auto-maps them; the last
// column is ours (not a NetSuite field) and is left unmapped unless you map it to a custom line field.
enum NetSuiteExporter {
    static let header = ["External ID", "Subsidiary", "Currency", "Date", "Account", "Debit", "Credit", "Memo", "Name", "Meterline Line ID"]

    /// Date format: MM/DD/YYYY (the import reads dates in the importing user's date-format preference; set it to
    /// MM/DD/YYYY for this file).
    static func date(_ micros: Int64) -> String {
        let d = ERPExport.civil(micros)
        return "\(ERPExport.pad(d.month, 2))/\(ERPExport.pad(d.day, 2))/\(ERPExport.pad(d.year, 4))"
    }

    static func render(_ entries: [ERPExport.Entry]) -> String {
        var out = CSV.record(header, terminator: "\r\n")
        for e in entries {
            let subsidiary = e.erp["netsuiteSubsidiary"] ?? e.entity
            let date = date(e.postingDate)
            let digits = e.currency.minorUnitDigits
            for l in e.lines {
                out += CSV.record([
                    e.journalId,
                    ERPExport.singleLine(subsidiary),
                    e.currency.code,
                    date,
                    ERPExport.singleLine(l.account),
                    l.debit != 0 ? ERPExport.decimal(l.debit, digits: digits) : "",
                    l.credit != 0 ? ERPExport.decimal(l.credit, digits: digits) : "",
                    ERPExport.singleLine(l.memo),
                    ERPExport.singleLine(l.subject ?? ""),
                    l.lineId,
                ], terminator: "\r\n")
            }
        }
        return out
    }
}
