// SAP S/4HANA "Journal Entry – Post" asynchronous SOAP service: one JournalEntryBulkCreateRequest with one
// JournalEntryCreateRequest per Meterline journal entry (BKPFF / RFBU / SA), G/L items only.
//
// Field lengths we enforce or derive (S/4HANA field → ABAP field): OriginalReferenceDocument → AWREF (10),
// DocumentReferenceID → XBLNR (16), DocumentHeaderText → BKTXT (25), CreatedByUser → USNAM (12),
// CompanyCode → BUKRS (4), GLAccount → HKONT/SAKNR (10), DocumentItemText → SGTXT (50); a document has at most
// 999 line items (BUZEI is 3 digits). Meterline's journal ids are 25+ characters, so the 10-character reference
// is derived from the journal id by a hash (`shortReference`) and the journal id itself (without "JE-") is the
// header text. Lengths are counted in UTF-16 code units, as ABAP counts characters.
import MeterlineCore

enum SAPJournalEntryExporter {
    static let maxItems = 999

    /// A deterministic 10-character reference for a journal id: base-36 (0-9A-Z) of 51 bits of its 128-bit hash.
    /// 36^10 ≈ 2^51.7; birthday collisions become likely only around 2^25 (≈ 3·10^7) journal ids.
    static func shortReference(_ journalId: String) -> String {
        var h = Hasher128()
        h.combine("meterline/sap-reference/v1")
        h.combine(journalId)
        var v = h.finalize().low & ((1 << 51) - 1)
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var chars = [Character](repeating: "0", count: 10)
        for i in stride(from: 9, through: 0, by: -1) {
            chars[i] = alphabet[Int(v % 36)]
            v /= 36
        }
        return String(chars)
    }

    /// Text content and attribute values: & < > " ' escaped; control characters already became spaces.
    static func xml(_ s: String) -> String {
        let t = ERPExport.singleLine(s)
        guard t.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return t }
        var out = ""
        for c in t {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    static func date(_ micros: Int64) -> String {
        let d = ERPExport.civil(micros)
        return "\(ERPExport.pad(d.year, 4))-\(ERPExport.pad(d.month, 2))-\(ERPExport.pad(d.day, 2))"
    }

    static func render(_ entries: [ERPExport.Entry], options: ExportOptions) throws(ExportError) -> String {
        var bulkHash = Hasher128()
        bulkHash.combine("meterline/sap-bulk/v1")
        for e in entries { bulkHash.combine(e.journalId) }
        let bulkCreated = options.createdAt ?? entries.map(\.postingDate).max() ?? 0

        var o = """
        <?xml version="1.0" encoding="UTF-8"?>
        <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sfin="http://sap.com/xi/SAPSCORE/SFIN">
          <soapenv:Header/>
          <soapenv:Body>
            <sfin:JournalEntryBulkCreateRequest>
              <MessageHeader>
                <ID>ML\(bulkHash.finalize().description)</ID>
                <CreationDateTime>\(RFC3339.format(micros: bulkCreated))</CreationDateTime>
              </MessageHeader>

        """
        for e in entries {
            let erp = e.erp
            guard let companyCode = erp["sapCompanyCode"], !companyCode.isEmpty else {
                throw ExportError("entity \"\(e.entity)\": set erp.sapCompanyCode (the SAP company code) for the SAP export")
            }
            guard companyCode.utf16.count <= 4 else { throw ExportError("entity \"\(e.entity)\": erp.sapCompanyCode \"\(companyCode)\" is longer than 4 characters") }
            let user = erp["sapCreatedByUser"] ?? "METERLINE"
            guard !user.isEmpty, user.utf16.count <= 12 else { throw ExportError("entity \"\(e.entity)\": erp.sapCreatedByUser \"\(user)\" must have 1 to 12 characters") }
            let docType = erp["sapDocumentType"] ?? "SA"
            guard !docType.isEmpty, docType.utf16.count <= 2 else { throw ExportError("entity \"\(e.entity)\": erp.sapDocumentType \"\(docType)\" must have 1 or 2 characters") }
            let zeroPad = erp["sapGLAccountZeroPad"] == "true"
            guard e.lines.count <= maxItems else {
                throw ExportError("journal \(e.journalId) has \(e.lines.count) lines; an SAP accounting document takes at most \(maxItems) items (lower journal maxLines)")
            }
            let reference = shortReference(e.journalId)
            let headerText = ERPExport.truncate(String(e.journalId.hasPrefix("JE-") ? e.journalId.dropFirst(3) : Substring(e.journalId)), utf16: 25)
            let day = date(e.postingDate)
            let digits = e.currency.minorUnitDigits
            o += """
                  <JournalEntryCreateRequest>
                    <MessageHeader>
                      <ID>\(xml(e.journalId))</ID>
                      <CreationDateTime>\(RFC3339.format(micros: options.createdAt ?? e.postingDate))</CreationDateTime>
                    </MessageHeader>
                    <JournalEntry>
                      <OriginalReferenceDocumentType>BKPFF</OriginalReferenceDocumentType>
                      <OriginalReferenceDocument>\(reference)</OriginalReferenceDocument>
                      <BusinessTransactionType>RFBU</BusinessTransactionType>
                      <AccountingDocumentType>\(xml(docType))</AccountingDocumentType>
                      <DocumentReferenceID>\(reference)</DocumentReferenceID>
                      <DocumentHeaderText>\(xml(headerText))</DocumentHeaderText>
                      <CreatedByUser>\(xml(user))</CreatedByUser>
                      <CompanyCode>\(xml(companyCode))</CompanyCode>
                      <DocumentDate>\(day)</DocumentDate>
                      <PostingDate>\(day)</PostingDate>

            """
            for (i, l) in e.lines.enumerated() {
                var account = l.account
                if zeroPad, account.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), account.utf8.count < 10 {
                    account = String(repeating: "0", count: 10 - account.utf8.count) + account
                }
                guard account.utf16.count <= 10 else {
                    throw ExportError("journal \(e.journalId): G/L account \"\(l.account)\" is longer than 10 characters (SAP GLAccount)")
                }
                let debit = l.debit != 0
                let amount = debit ? ERPExport.decimal(l.debit, digits: digits) : ERPExport.decimal(-l.credit, digits: digits)
                o += """
                          <Item>
                            <ReferenceDocumentItem>\(i + 1)</ReferenceDocumentItem>
                            <GLAccount>\(xml(account))</GLAccount>
                            <AmountInTransactionCurrency currencyCode="\(e.currency.code)">\(amount)</AmountInTransactionCurrency>
                            <DebitCreditCode>\(debit ? "S" : "H")</DebitCreditCode>
                            <DocumentItemText>\(xml(ERPExport.truncate(ERPExport.singleLine(l.memo), utf16: 50)))</DocumentItemText>
                          </Item>

                """
            }
            o += """
                    </JournalEntry>
                  </JournalEntryCreateRequest>

            """
        }
        o += """
            </sfin:JournalEntryBulkCreateRequest>
          </soapenv:Body>
        </soapenv:Envelope>

        """
        return o
    }
}
