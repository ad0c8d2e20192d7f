import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import MeterlineConfig
import MeterlineCore
@testable import MeterlineLedger
import Testing

@Suite struct ExportReadingTests {
    @Test func jsonFormRoundTrips() throws {
        for e in ExportWorkload.entries {
            #expect(try JournalEntry.decode(jsonLine: e.json()) == e)
        }
    }

    @Test func journalBookOutputRoundTrips() throws {
        let entity = LegalEntity(id: "us", currency: Currency(code: "USD")!, unbilledReceivable: "1210", usageRevenue: "4010")
        var book = JournalBook(entities: [entity])
        let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        book.add([
            billingEvent(1, subject: "a", amount: try Amount("12.345"), periodStart: p, postedAt: p),
            billingEvent(2, subject: "b, \"quoted\" ü", amount: try Amount("-2.50"), periodStart: p, postedAt: p),
        ])
        let entries = book.finish()
        #expect(!entries.isEmpty)
        let text = entries.map { $0.json() }.joined(separator: "\n") + "\n"
        #expect(try JournalEntriesReader.parse(text) == entries)
    }

    @Test func amountsBeyond64BitsAreExact() throws {
        var e = ExportWorkload.entries[1]
        let big: Int128 = Int128(UInt64.max) * 1000 + 7
        e.lines = [ExportWorkload.line(1, "1210", "x", debit: big), ExportWorkload.line(2, "4010", "x", credit: big)]
        let back = try JournalEntry.decode(jsonLine: e.json())
        #expect(back.lines[0].debit == big)
        let csv = try ERPExport.render([back], format: .netsuite, entities: nil)
        #expect(csv.contains("184467440737095516150.07"))
    }

    @Test func errorsNameTheLine() throws {
        let good = ExportWorkload.entries[1].json()
        func failure(_ text: String) -> JournalReadError? {
            do { _ = try JournalEntriesReader.parse(text, file: "je.jsonl"); return nil } catch { return error }
        }
        let bad = try #require(failure(good + "\n\n" + "{\"journalId\": \n" + good + "\n"))
        #expect(bad.line == 3)
        #expect(bad.description.hasPrefix("je.jsonl:3: not valid JSON"))
        let unbalanced = good.replacingOccurrences(of: "\"debit\":1300", with: "\"debit\":1301")
        #expect(failure(good + "\n" + unbalanced)?.line == 2)
        #expect(failure(unbalanced)?.message.contains("does not balance") == true)
        #expect(failure(good.replacingOccurrences(of: "\"debit\":1300", with: "\"debit\":-1300"))?.message.contains("negative") == true)
        #expect(failure(good.replacingOccurrences(of: "\"debit\":1300", with: "\"debit\":13.5"))?.message.contains("integer") == true)
        #expect(failure(good.replacingOccurrences(of: "\"period\"", with: "\"periodX\""))?.message.contains("unknown field") == true)
        #expect(failure(good.replacingOccurrences(of: "\"currency\":\"USD\"", with: "\"currency\":\"usd\""))?.message.contains("ISO 4217") == true)
        #expect(failure(good.replacingOccurrences(of: "JE-a0b1", with: "JX-a0b1"))?.message.contains("journalId") == true)
        #expect(failure("[1,2]")?.message.contains("expected a JSON object") == true)
    }
}

@Suite struct ExportFormatTests {
    let entries = ExportWorkload.entries
    let entities = ExportWorkload.entities

    @Test func decimals() {
        #expect(ERPExport.decimal(1300, digits: 2) == "13.00")
        #expect(ERPExport.decimal(5, digits: 2) == "0.05")
        #expect(ERPExport.decimal(-5, digits: 2) == "-0.05")
        #expect(ERPExport.decimal(1300, digits: 0) == "1300")
        #expect(ERPExport.decimal(1, digits: 3) == "0.001")
        #expect(ERPExport.decimal(0, digits: 2) == "0.00")
    }

    @Test func outputDoesNotDependOnInputOrder() throws {
        for f in ExportFormat.allCases {
            let a = try ERPExport.render(entries, format: f, entities: entities)
            let b = try ERPExport.render(entries.reversed(), format: f, entities: entities)
            #expect(a == b, "\(f)")
        }
    }

    // MARK: NetSuite

    @Test func netsuiteGoldenAndColumns() throws {
        let csv = try ERPExport.render(entries, format: .netsuite, entities: entities)
        try Golden.check(csv, "netsuite-journal-entries.csv")
        let rows = try StrictCSV.parse(csv, terminator: "\r\n")
        #expect(rows.first == ["External ID", "Subsidiary", "Currency", "Date", "Account", "Debit", "Credit", "Memo", "Name", "Meterline Line ID"])
        #expect(rows.count == 1 + ExportWorkload.lineCount)
        var net: [String: Int128] = [:]
        var digitsById: [String: Int] = [:]
        for e in entries { digitsById[e.journalId] = e.currency.minorUnitDigits }
        for r in rows.dropFirst() {
            #expect(r.count == 10)
            let digits = try #require(digitsById[r[0]])
            #expect(r[5].isEmpty != r[6].isEmpty, "exactly one of Debit/Credit: \(r)")
            if !r[5].isEmpty { net[r[0], default: 0] += try #require(minorUnits(r[5], digits: digits)) }
            if !r[6].isEmpty { net[r[0], default: 0] -= try #require(minorUnits(r[6], digits: digits)) }
        }
        #expect(net.count == entries.count && net.values.allSatisfy { $0 == 0 }, "debits = credits per External ID")
        // Mapped fields.
        let tricky = try #require(rows.first { $0[8] == ExportWorkload.trickySubject })
        #expect(tricky[0] == "JE-a0b1c2d3e4f506172839-1" && tricky[1] == "US Inc" && tricky[2] == "USD" && tricky[3] == "10/01/2026")
        #expect(tricky[7].contains(", \"Ltd\""))
        let jpy = try #require(rows.first { $0[8] == ExportWorkload.japaneseSubject && $0[4] == "4010" })
        #expect(jpy[5] == "1300" && jpy[6] == "", "the reversal debits revenue; JPY has no decimals")
        let summary = try #require(rows.first { $0[0] == "JE-0c1d2e3f405162738495-2" })
        #expect(summary[8] == "" && summary[1] == "EU GmbH" && summary[3] == "10/02/2026")
        // Without a config the subsidiary is the entity id.
        let bare = try StrictCSV.parse(try ERPExport.render(entries, format: .netsuite, entities: nil), terminator: "\r\n")
        #expect(bare.dropFirst().allSatisfy { $0[1] == "us-inc" || $0[1] == "eu-gmbh" })
    }

    @Test(.enabled(if: Python.available)) func netsuiteReadsWithPythonCSV() throws {
        let url = try temporaryFile(try ERPExport.render(entries, format: .netsuite, entities: entities), "netsuite.csv")
        let script = """
        import csv, sys
        from decimal import Decimal
        rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
        assert rows[0] == ['External ID','Subsidiary','Currency','Date','Account','Debit','Credit','Memo','Name','Meterline Line ID'], rows[0]
        assert all(len(r) == 10 for r in rows), 'column count'
        net = {}
        for r in rows[1:]:
            net[r[0]] = net.get(r[0], Decimal(0)) + Decimal(r[5] or 0) - Decimal(r[6] or 0)
        assert all(v == 0 for v in net.values()), net
        print(len(rows) - 1, len(net))
        """
        let out = try Python.run(script, [url.path])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "\(ExportWorkload.lineCount) \(entries.count)")
    }

    @Test func negativeLinesAreWrittenOnTheOtherSide() throws {
        var e = ExportWorkload.entries[1]
        e.lines = [ExportWorkload.line(1, "1210", "c", debit: 500), ExportWorkload.line(2, "4010", "c", debit: -500)]
        let rows = try StrictCSV.parse(try ERPExport.render([e], format: .netsuite, entities: nil), terminator: "\r\n")
        #expect(rows[2][4] == "4010" && rows[2][5] == "" && rows[2][6] == "5.00")
    }

    // MARK: Oracle FBDI

    @Test func oracleGoldenAndColumns() throws {
        let csv = try ERPExport.render(entries, format: .oracleFBDI, entities: entities)
        try Golden.check(csv, "GlInterface.csv")
        let rows = try StrictCSV.parse(csv, terminator: "\n")
        let columns = OracleFBDIExporter.columns
        #expect(columns.count == 92 && columns.last == "LEDGER_NAME")
        #expect(rows.count == ExportWorkload.lineCount, "no header row")
        func col(_ r: [String], _ name: String) -> String { r[OracleFBDIExporter.index[name]!] }
        var net: [String: Int128] = [:]
        for r in rows {
            #expect(r.count == columns.count)
            #expect(col(r, "STATUS") == "NEW" && col(r, "ACTUAL_FLAG") == "A" && col(r, "USER_JE_SOURCE_NAME") == "Meterline")
            #expect(col(r, "REFERENCE1") == col(r, "REFERENCE4"))
            let digits = col(r, "CURRENCY_CODE") == "JPY" ? 0 : 2
            #expect(col(r, "ENTERED_DR").isEmpty != col(r, "ENTERED_CR").isEmpty)
            if let d = minorUnits(col(r, "ENTERED_DR"), digits: digits) { net[col(r, "REFERENCE4"), default: 0] += d }
            if let c = minorUnits(col(r, "ENTERED_CR"), digits: digits) { net[col(r, "REFERENCE4"), default: 0] -= c }
        }
        #expect(net.count == entries.count && net.values.allSatisfy { $0 == 0 })
        let us = try #require(rows.first { col($0, "CURRENCY_CODE") == "USD" })
        #expect(col(us, "LEDGER_ID") == "300000046975971" && col(us, "LEDGER_NAME") == "US Primary Ledger")
        #expect(col(us, "ACCOUNTING_DATE") == "2026/10/01" && col(us, "DATE_CREATED") == "2026/10/01")
        #expect(col(us, "SEGMENT1") == "101" && col(us, "SEGMENT3") == "1210" && col(us, "SEGMENT4") == "000" && col(us, "USER_JE_CATEGORY_NAME") == "Usage")
        let eu = try #require(rows.first { col($0, "CURRENCY_CODE") == "EUR" })
        #expect(col(eu, "SEGMENT2") == "1210" && col(eu, "SEGMENT1") == "" && col(eu, "SEGMENT3") == "" && col(eu, "LEDGER_ID") == "")
        #expect(col(eu, "USER_JE_CATEGORY_NAME") == "Usage Revenue" && col(eu, "USER_CURRENCY_CONVERSION_TYPE") == "Corporate")
        #expect(col(eu, "CURRENCY_CONVERSION_DATE") == "2026/10/02")
        // --created-at
        let stamped = try ERPExport.render(entries, format: .oracleFBDI, entities: entities,
                                           options: ExportOptions(createdAt: RFC3339.parseMicros("2026-11-05T10:00:00Z")))
        #expect(try StrictCSV.parse(stamped, terminator: "\n").allSatisfy { col($0, "DATE_CREATED") == "2026/11/05" })
    }

    @Test(.enabled(if: Python.available)) func oracleReadsWithPythonCSV() throws {
        let url = try temporaryFile(try ERPExport.render(entries, format: .oracleFBDI, entities: entities), "GlInterface.csv")
        let script = """
        import csv, sys
        rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
        assert all(len(r) == 92 for r in rows), [len(r) for r in rows]
        assert all(r[0] == 'NEW' for r in rows), 'STATUS first: no header row'
        print(len(rows))
        """
        let out = try Python.run(script, [url.path])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "\(ExportWorkload.lineCount)")
    }

    @Test func oracleMappingErrors() throws {
        var noLedger = entities
        noLedger[0].erp = [:]
        #expect(throws: ExportError.self) { try ERPExport.render(entries, format: .oracleFBDI, entities: noLedger) }
        var clash = entities
        clash[0].erp["oracleAccountSegment"] = "SEGMENT1"
        #expect(throws: ExportError.self) { try ERPExport.render(entries, format: .oracleFBDI, entities: clash) }
        var badSegment = entities
        badSegment[1].erp["oracleAccountSegment"] = "SEGMENT31"
        #expect(throws: ExportError.self) { try ERPExport.render(entries, format: .oracleFBDI, entities: badSegment) }
    }

    // MARK: SAP

    @Test func sapGoldenAndDocuments() throws {
        let xml = try ERPExport.render(entries, format: .sap, entities: entities)
        try Golden.check(xml, "sap-journal-entry-bulk-create.xml")
        #if canImport(FoundationXML) || os(macOS)
        let doc = try XMLDocument(data: Data(xml.utf8))
        let requests = try doc.nodes(forXPath: "//JournalEntryCreateRequest")
        #expect(requests.count == entries.count)
        var headerTexts: [String] = []
        for r in requests {
            func text(_ node: XMLNode, _ path: String) throws -> String { try node.nodes(forXPath: path).first?.stringValue ?? "" }
            let je = try #require(try r.nodes(forXPath: "JournalEntry").first)
            #expect(try text(je, "OriginalReferenceDocumentType") == "BKPFF")
            #expect(try text(je, "BusinessTransactionType") == "RFBU")
            #expect(try text(je, "AccountingDocumentType") == "SA")
            #expect(try text(je, "OriginalReferenceDocument").count == 10)
            let header = try text(je, "DocumentHeaderText")
            #expect(header.utf16.count <= 25)
            headerTexts.append(header)
            #expect(try text(r, "MessageHeader/ID") == "JE-" + header)
            let company = try text(je, "CompanyCode")
            #expect(company == "1000" || company == "2000")
            #expect(try text(je, "PostingDate") == text(je, "DocumentDate"))
            var sum: Int128 = 0
            for item in try je.nodes(forXPath: "Item") {
                let amountNode = try #require(try item.nodes(forXPath: "AmountInTransactionCurrency").first as? XMLElement)
                let currency = try #require(amountNode.attribute(forName: "currencyCode")?.stringValue)
                let digits = Currency(code: currency)!.minorUnitDigits
                let amount = try #require(minorUnits(amountNode.stringValue ?? "", digits: digits))
                #expect(try text(item, "DebitCreditCode") == (amount > 0 ? "S" : "H"))
                #expect(try text(item, "DocumentItemText").utf16.count <= 50)
                #expect(try text(item, "GLAccount").utf16.count <= 10)
                sum += amount
            }
            #expect(sum == 0, "Σ amounts per document")
        }
        #expect(Set(headerTexts) == Set(entries.map { String($0.journalId.dropFirst(3)) }))
        // Escaping and truncation survive parsing.
        let texts = try doc.nodes(forXPath: "//DocumentItemText").compactMap(\.stringValue)
        #expect(texts.contains("Usage revenue " + ExportWorkload.trickySubject))
        #expect(texts.contains { $0.hasPrefix("Usage revenue Müller-Lüdenscheidt") && $0.count == 50 })
        #expect(try doc.nodes(forXPath: "//GLAccount").compactMap(\.stringValue).contains("0000001210"), "sapGLAccountZeroPad")
        #else
        #expect(xml.components(separatedBy: "<JournalEntryCreateRequest>").count == entries.count + 1)
        #endif
    }

    @Test func sapLimits() throws {
        #expect(throws: ExportError.self) { try ERPExport.render(entries, format: .sap, entities: nil) }
        var big = ExportWorkload.entries[1]
        big.lines = (0..<1000).map { ExportWorkload.line($0, $0 % 2 == 0 ? "1210" : "4010", "c\($0 / 2)", debit: $0 % 2 == 0 ? 1 : 0, credit: $0 % 2 == 0 ? 0 : 1) }
        let error = #expect(throws: ExportError.self) { try ERPExport.render([big], format: .sap, entities: entities) }
        #expect(error?.message.contains("999") == true)
        let ref = SAPJournalEntryExporter.shortReference("JE-a0b1c2d3e4f506172839-1")
        #expect(ref.count == 10 && ref.allSatisfy { $0.isASCII && ($0.isNumber || $0.isUppercase) })
        #expect(ref == SAPJournalEntryExporter.shortReference("JE-a0b1c2d3e4f506172839-1"))
        #expect(ref != SAPJournalEntryExporter.shortReference("JE-a0b1c2d3e4f506172839-2"))
    }

    @Test func exampleConfigMappingExportsJournalBookOutput() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try ConfigLoader.load(path: root.appendingPathComponent("examples/meterline.yaml").path, environment: [:])
        var book = JournalBook(configuration: config)
        let p = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        let entity = try #require(config.entities.first)
        book.add(try (0..<30).map { i in
            var e = billingEvent(i, subject: "cust-\(i % 7)", amount: try Amount(i % 5 == 0 ? "-1.234" : "3.3333"), periodStart: p,
                                 postedAt: p + Int64(i % 3) * UTC.microsPerDay)
            e.entity = entity.id
            e.currency = entity.currency
            return e
        })
        let entries = book.finish()
        let jsonl = entries.map { $0.json() + "\n" }.joined()
        let read = try JournalEntriesReader.parse(jsonl)
        for f in ExportFormat.allCases {
            let text = try ERPExport.render(read, format: f, entities: config.entities)
            #expect(!text.isEmpty)
            if f == .netsuite { #expect(try StrictCSV.parse(text, terminator: "\r\n").count == 1 + read.reduce(0) { $0 + $1.lines.count }) }
            if f == .oracleFBDI { #expect(try StrictCSV.parse(text, terminator: "\n").allSatisfy { $0.last == entity.erp["oracleLedger"] }) }
            if f == .sap { #expect(text.contains("<CompanyCode>\(entity.erp["sapCompanyCode"]!)</CompanyCode>")) }
        }
    }

    @Test func inputErrors() throws {
        var unbalanced = ExportWorkload.entries[1]
        unbalanced.lines[0].debit += 1
        #expect(throws: ExportError.self) { try ERPExport.render([unbalanced], format: .netsuite, entities: nil) }
        #expect(throws: ExportError.self) { try ERPExport.render(entries + [entries[0]], format: .netsuite, entities: nil) }
        #expect(throws: ExportError.self) { try ERPExport.render(entries, format: .netsuite, entities: [entities[0]]) }
    }

    func temporaryFile(_ text: String, _ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterline-export-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }
}
