// Oracle Fusion Cloud General Ledger FBDI journal import: GlInterface.csv (the GL_INTERFACE sheet of the
// Journal Import template, JournalImportTemplate.xlsm), zipped and loaded with "Load Interface File for Import"
// then "Import Journals".
//
// FBDI CSVs have NO header row: the template's column order is the contract. `columns` is that order as far as
// we know it (docs/erp-exports.md says which columns we fill and what to check against the current template);
// rows stop after LEDGER_NAME, relying on the loader accepting short rows (TRAILING NULLCOLS). Rows end with LF
// (the loader reads LF-terminated records; a CR would become part of the last field), fields are quoted only
// when needed (the loader reads fields OPTIONALLY ENCLOSED BY '"' with "" for a quote).
enum OracleFBDIExporter {
    /// GL_INTERFACE columns in template order, through LEDGER_NAME.
    static let columns: [String] = {
        var c = ["STATUS", "LEDGER_ID", "ACCOUNTING_DATE", "USER_JE_SOURCE_NAME", "USER_JE_CATEGORY_NAME", "CURRENCY_CODE",
                 "DATE_CREATED", "ACTUAL_FLAG"]
        c += (1...30).map { "SEGMENT\($0)" }
        c += ["ENTERED_DR", "ENTERED_CR", "ACCOUNTED_DR", "ACCOUNTED_CR"]
        c += (1...10).map { "REFERENCE\($0)" }
        c += (21...30).map { "REFERENCE\($0)" }
        c += ["STAT_AMOUNT", "USER_CURRENCY_CONVERSION_TYPE", "CURRENCY_CONVERSION_DATE", "CURRENCY_CONVERSION_RATE", "GROUP_ID",
              "ATTRIBUTE_CATEGORY"]
        c += (1...20).map { "ATTRIBUTE\($0)" }
        c += ["ATTRIBUTE_CATEGORY3", "AVERAGE_JOURNAL_FLAG", "ORIGINATING_BAL_SEG_VALUE", "LEDGER_NAME"]
        return c
    }()
    static let index: [String: Int] = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })

    /// Oracle's interface date format.
    static func date(_ micros: Int64) -> String {
        let d = ERPExport.civil(micros)
        return "\(ERPExport.pad(d.year, 4))/\(ERPExport.pad(d.month, 2))/\(ERPExport.pad(d.day, 2))"
    }

    static func render(_ entries: [ERPExport.Entry], options: ExportOptions) throws(ExportError) -> String {
        var out = ""
        for e in entries {
            let erp = e.erp
            let ledgerId = erp["oracleLedgerId"] ?? ""
            let ledgerName = erp["oracleLedger"] ?? ""
            guard !ledgerId.isEmpty || !ledgerName.isEmpty else {
                throw ExportError("entity \"\(e.entity)\": set erp.oracleLedgerId (the Fusion ledger id) and/or erp.oracleLedger (the ledger name) for the Oracle FBDI export")
            }
            if !ledgerId.isEmpty, !ledgerId.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                throw ExportError("entity \"\(e.entity)\": erp.oracleLedgerId \"\(ledgerId)\" is not a number")
            }
            let source = erp["oracleJournalSource"] ?? "Meterline"
            let category = erp["oracleJournalCategory"] ?? "Usage"
            for (name, v) in [("oracleJournalSource", source), ("oracleJournalCategory", category)] where v.isEmpty || v.utf16.count > 25 {
                throw ExportError("entity \"\(e.entity)\": erp.\(name) \"\(v)\" must have 1 to 25 characters")
            }
            let accountSegment = erp["oracleAccountSegment"] ?? "SEGMENT3"
            guard accountSegment.hasPrefix("SEGMENT"), let n = Int(accountSegment.dropFirst(7)), (1...30).contains(n) else {
                throw ExportError("entity \"\(e.entity)\": erp.oracleAccountSegment \"\(accountSegment)\" is not SEGMENT1 … SEGMENT30")
            }
            // Fixed segment values: erp.oracleSegment<N>, and erp.oracleCompanySegmentValue for SEGMENT1.
            var fixed: [String: String] = [:]
            for k in 1...30 { if let v = erp["oracleSegment\(k)"] { fixed["SEGMENT\(k)"] = v } }
            if let company = erp["oracleCompanySegmentValue"] {
                if let other = fixed["SEGMENT1"], other != company {
                    throw ExportError("entity \"\(e.entity)\": erp.oracleCompanySegmentValue and erp.oracleSegment1 disagree")
                }
                fixed["SEGMENT1"] = company
            }
            if fixed[accountSegment] != nil {
                throw ExportError("entity \"\(e.entity)\": \(accountSegment) holds the account (erp.oracleAccountSegment) and also has a fixed value")
            }
            let accountingDate = date(e.postingDate)
            let created = date(options.createdAt ?? e.postingDate)
            let conversionType = erp["oracleConversionType"] ?? ""
            let digits = e.currency.minorUnitDigits
            let journalDescription = "Meterline usage \(e.entity) \(e.currency.code) \(accountingDate) periods \(e.period) part \(e.part)"
            for l in e.lines {
                guard l.account.utf16.count <= 25 else {
                    throw ExportError("journal \(e.journalId): account \"\(l.account)\" is longer than a segment value (25 characters)")
                }
                var row = [String](repeating: "", count: columns.count)
                func set(_ column: String, _ value: String) { row[index[column]!] = ERPExport.singleLine(value) }
                set("STATUS", "NEW")
                set("LEDGER_ID", ledgerId)
                set("ACCOUNTING_DATE", accountingDate)
                set("USER_JE_SOURCE_NAME", source)
                set("USER_JE_CATEGORY_NAME", category)
                set("CURRENCY_CODE", e.currency.code)
                set("DATE_CREATED", created)
                set("ACTUAL_FLAG", "A")
                for (segment, v) in fixed { set(segment, v) }
                set(accountSegment, l.account)
                if l.debit != 0 { set("ENTERED_DR", ERPExport.decimal(l.debit, digits: digits)) }
                if l.credit != 0 { set("ENTERED_CR", ERPExport.decimal(l.credit, digits: digits)) }
                set("REFERENCE1", e.journalId)
                set("REFERENCE2", ERPExport.truncate("Meterline usage \(e.entity) \(e.period)", utf16: 240))
                set("REFERENCE4", e.journalId)
                set("REFERENCE5", ERPExport.truncate(journalDescription, utf16: 240))
                set("REFERENCE10", ERPExport.truncate(ERPExport.singleLine(l.memo), utf16: 240))
                set("REFERENCE21", l.lineId)
                if !conversionType.isEmpty {
                    set("USER_CURRENCY_CONVERSION_TYPE", conversionType)
                    set("CURRENCY_CONVERSION_DATE", accountingDate)
                }
                set("GROUP_ID", erp["oracleGroupId"] ?? "")
                set("LEDGER_NAME", ledgerName)
                out += CSV.record(row, terminator: "\n")
            }
        }
        return out
    }
}
