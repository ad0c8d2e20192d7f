import ArgumentParser
import Foundation
import Logging
import MeterlineCore
import MeterlineEngine
import MeterlineLineage

struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Re-rate a past period from JSONL / JSONL.zst files or a Kafka topic; with --previous, emit only the corrections.",
        discussion: """
        Events outside [--from, --to) are counted, not rated. Periods that end by --to are closed (true-ups).
        Writes DIR/billing-events.jsonl, DIR/journal-entries.jsonl, DIR/dlq.jsonl, DIR/lineage/, DIR/report.json
        (staged in DIR.partial, renamed when complete). With --previous, billing-events.jsonl and
        journal-entries.jsonl hold only the differences (revisions with amountDelta, adjustment entries) and the
        complete re-rated period is kept in DIR/period/, so DIR can be the --previous of the next backfill.

        Examples:
          meterline generate --events 1000000 --out oct.jsonl.zst
          meterline backfill --config examples/meterline.yaml --from 2026-10-01T00:00:00Z --to 2026-11-01T00:00:00Z --input oct.jsonl.zst --out bf1
          meterline backfill --config new-prices.yaml --from 2026-10-01T00:00:00Z --to 2026-11-01T00:00:00Z --input oct.jsonl.zst --out bf2 --previous bf1
        """
    )
    @Option(help: "Config file (YAML).") var config: String
    @Option(help: "Start of the range (RFC 3339, inclusive).") var from: String
    @Option(help: "End of the range (RFC 3339, exclusive).") var to: String
    @Option(name: .customLong("input"), parsing: .upToNextOption, help: "Input files: CloudEvents JSONL, or JSONL compressed with zstd (.zst).") var inputs: [String] = []
    @Option(help: "Read a Kafka topic instead (brokers from the config's kafka: section).") var topic: String?
    @Option(help: "Output directory.") var out: String
    @Option(help: "An earlier backfill's or the streaming engine's output for the same period: emit only the differences.") var previous: String?
    @Option(help: "Number of shards (default: the number of CPU cores; outputs are identical for any count).") var shards: Int?
    @Option(help: "Scheduler slice, in ms, that the run's busy threads ask the kernel for (Linux 6.12+; 0: the kernel's default).")
    var timeSliceMs: Int = Int(Backfill.defaultTimeSlice / 1_000_000)
    @Flag(help: "Print report.json to stdout instead of the table.") var json = false

    mutating func run() throws {
        let cfg = try loadConfig(config)
        guard let f = RFC3339.parseMicros(from) else { throw fail("--from \(from): expected an RFC 3339 date-time") }
        guard let t = RFC3339.parseMicros(to) else { throw fail("--to \(to): expected an RFC 3339 date-time") }
        var b = Backfill(config: cfg, from: f, to: t, out: out)
        b.inputs = inputs
        b.topic = topic
        b.kafka = cfg.kafka
        b.previous = previous
        b.shards = shards ?? min(ProcessInfo.processInfo.activeProcessorCount, 64)
        guard (0...100).contains(timeSliceMs) else { throw fail("--time-slice-ms \(timeSliceMs): expected 0 (the kernel's default) to 100") }
        b.timeSlice = timeSliceMs == 0 ? nil : UInt64(timeSliceMs) * 1_000_000
        let report: BackfillReport
        do { report = try b.run() } catch let e as BackfillError { throw fail(e.message) }
        print(json ? report.json() : report.table(), terminator: json ? "\n" : "")
        if !report.counters.balanced { throw ExitCode(1) }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the synthetic workload of `run --embedded` as CloudEvents JSONL (zstd-compressed when the name ends in .zst).",
        discussion: "Example:\n  meterline generate --events 20000000 --out events.jsonl.zst"
    )
    @Option(help: "Number of events.") var events: Int = 1_000_000
    @Option(help: "Seed.") var seed: UInt64 = 42
    @Option(help: "Hours of event time the workload spans (from 2026-10-01T00:00:00Z).") var hours: Int = 24
    @Option(help: "Customers per legal entity (more customers: more windows, billing events and journal lines per event).")
    var customers: Int = 1000
    @Option(help: "Output file (.jsonl or .jsonl.zst).") var out: String

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative") }
        guard hours >= 1 else { throw ValidationError("--hours must be positive") }
        guard customers >= 1 else { throw ValidationError("--customers must be positive") }
    }

    mutating func run() throws {
        var w = Workload(events: events)
        w.seed = seed
        w.hours = hours
        w.customersPerEntity = customers
        let writer = try ChunkedFileWriter(path: out)
        try w.generate { m in try writer.write(m.value + [0x0A]) }
        try writer.close()
    }
}
