// meterline export — journal-entries.jsonl → an ERP import file (NetSuite CSV, Oracle FBDI GlInterface.csv,
// SAP JournalEntryBulkCreateRequest XML). The formats live in MeterlineLedger/Exports; docs/erp-exports.md
// maps every column.
import ArgumentParser
import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineLedger

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export journal entries to an ERP import file: NetSuite CSV, Oracle FBDI GL interface CSV, SAP journal entry SOAP XML.",
        discussion: """
        Reads journal-entries.jsonl (as written by `meterline run`) and writes one file. The output depends only on
        the entries, the config's entities[].erp mapping and --created-at: the same input gives the same bytes.
        Entity ERP mapping keys (entities[].erp in the config): netsuiteSubsidiary; oracleLedgerId, oracleLedger,
        oracleAccountSegment, oracleCompanySegmentValue, oracleSegment<N>, oracleJournalSource, oracleJournalCategory,
        oracleGroupId, oracleConversionType; sapCompanyCode, sapCreatedByUser, sapDocumentType, sapGLAccountZeroPad.
        See docs/erp-exports.md for every column and what to check against the vendor's current documentation.

        Examples:
          meterline export --format netsuite --input out/journal-entries.jsonl --out je-netsuite.csv --config examples/meterline.yaml
          meterline export --format oracle-fbdi --input out --out GlInterface.csv --config prod.yaml
          meterline export --format sap --input out/journal-entries.jsonl --out je-sap.xml --config prod.yaml
        """
    )

    @Option(help: "Output format: netsuite, oracle-fbdi or sap.")
    var format: String

    @Option(help: "journal-entries.jsonl, or the directory that contains it.")
    var input: String

    @Option(help: "Output file ('-' for standard output).")
    var out: String

    @Option(help: "Config file (YAML) whose entities[].erp supply the ERP mapping. Without it every key takes its default.")
    var config: String?

    @Option(name: .customLong("created-at"),
            help: "Creation timestamp (RFC 3339) for Oracle DATE_CREATED and SAP MessageHeader. Default: each entry's posting date.")
    var createdAt: String?

    mutating func run() throws {
        guard let fmt = ExportFormat(rawValue: format) else {
            throw Export.failure("--format must be one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(format)\"")
        }
        var options = ExportOptions()
        if let createdAt {
            guard let t = RFC3339.parseMicros(createdAt) else { throw Export.failure("--created-at \"\(createdAt)\" is not an RFC 3339 timestamp") }
            options.createdAt = t
        }
        var entities: [LegalEntity]? = nil
        if let config {
            do { entities = try ConfigLoader.load(path: config).entities } catch let e as ConfigError {
                FileHandle.standardError.write(Data((e.description + "\n").utf8))
                throw ExitCode(2)
            }
        }
        var path = input
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            path = (path as NSString).appendingPathComponent("journal-entries.jsonl")
        }
        let entries: [JournalEntry]
        do { entries = try JournalEntriesReader.read(path: path) } catch { throw Export.failure(error.description) }
        let text: String
        do { text = try ERPExport.render(entries, format: fmt, entities: entities, options: options) } catch {
            throw Export.failure(error.description)
        }
        let data = Data(text.utf8)
        if out == "-" {
            FileHandle.standardOutput.write(data)
        } else {
            do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                throw Export.failure("cannot write \(out): \(error.localizedDescription)")
            }
            FileHandle.standardError.write(Data("wrote \(entries.count) journal entries as \(fmt.rawValue) to \(out)\n".utf8))
        }
    }

    /// Prints a one-line reason and returns exit code 2.
    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("meterline export: \(message)\n".utf8))
        return ExitCode(2)
    }
}
