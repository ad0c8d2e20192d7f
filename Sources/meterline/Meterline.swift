// meterline — the command-line interface. Parses arguments, bootstraps logging, runs the engine.
// The only executable; it owns no metering logic.
import ArgumentParser
import Foundation
import Logging
import MeterlineAdmin
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import Prometheus

@main
struct Meterline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meterline",
        abstract: "Usage metering and rating: Kafka in, exact money out.",
        discussion: """
        Consumes CloudEvents usage events, deduplicates, rolls them up per window, rates them against
        price books and emits billing events, balanced journal entries and zstd lineage files.

        Example:
          meterline run --embedded                 # the whole path on librdkafka's in-process mock cluster
          meterline price --config examples/meterline.yaml --price-book standard --meter tokens --quantity 2500000
          meterline backfill --config examples/meterline.yaml --from 2026-10-01T00:00:00Z --to 2026-11-01T00:00:00Z --input oct.jsonl.zst --out bf
        """,
        subcommands: [Run.self, BackfillCommand.self, Lineage.self, Export.self, Price.self, ValidateConfig.self, Generate.self, BenchCommand.self]
    )
}

/// Logging to stderr at the requested level.
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
}

/// Prints a one-line reason and exits non-zero.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("meterline: \(message)\n".utf8))
    return ExitCode(2)
}

func loadConfig(_ path: String) throws -> Configuration {
    do { return try ConfigLoader.load(path: path) } catch let e as ConfigError {
        FileHandle.standardError.write(Data((e.description + "\n").utf8))
        throw ExitCode(2)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the streaming engine (embedded mock cluster, or brokers from the config).",
        discussion: """
        --embedded starts librdkafka's mock cluster on 127.0.0.1, creates the topics usage, billing, journal,
        dlq and state, produces a synthetic workload built from the config's meters and customers, consumes it
        as a consumer group through the real Kafka protocol, reads the outputs back from the topics and writes
        them under --out: billing-events.jsonl, journal-entries.jsonl, dlq.jsonl, lineage/*.mlz.

        Examples:
          meterline run --embedded
          meterline run --embedded --events 100000 --out /tmp/out
          meterline run --config prod.yaml          # brokers from kafka: bootstrap.servers; SIGTERM drains and exits 0
        """
    )

    @Flag(help: "Run against librdkafka's in-process mock cluster with a synthetic workload.")
    var embedded = false

    @Option(help: "Config file (YAML). Default for --embedded: the compiled-in copy of examples/meterline.yaml.")
    var config: String?

    @Option(help: "Number of synthetic events (--embedded).")
    var events: Int = 1_000_000

    @Option(help: "Workload seed (--embedded).")
    var seed: UInt64 = 42

    @Option(help: "Output directory (--embedded).")
    var out: String = "out"

    @Option(help: "Messages per checkpoint.")
    var checkpointEvery: Int = 200_000

    @Option(help: "Pipeline threads; input partitions are spread over them (the outputs do not depend on it).")
    var shards: Int = 1

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "warning"

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Option(help: "Admin HTTP address for /metrics, /healthz and /readyz (run --config), or \"off\".")
    var admin: String = "127.0.0.1:9464"

    @Option(help: "Write the engine's metrics (Prometheus text) to this file after every checkpoint, by rename (for node_exporter's textfile collector). With --embedded they go to OUT/metrics.prom.")
    var metricsFile: String?

    mutating func run() throws {
        bootstrapLogging(Logger.Level(rawValue: logLevel) ?? .warning)
        if embedded {
            let cfg: Configuration
            if let config { cfg = try loadConfig(config) } else {
                do { cfg = try ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "(embedded) " + EmbeddedDefaults.configFileName) } catch {
                    throw fail("the embedded default config does not load: \(error)")
                }
            }
            guard events >= 0 else { throw fail("--events must not be negative") }
            guard (1...256).contains(shards) else { throw fail("--shards must be in 1...256") }
            var workload = Workload(events: events)
            workload.seed = seed
            var run = EmbeddedRun(config: cfg, workload: workload, outDirectory: out)
            run.checkpointEvery = checkpointEvery
            run.shards = shards
            let registry = PrometheusCollectorRegistry()
            run.metrics = (PrometheusMetricsFactory(registry: registry), { registry.emitToString() })
            let summary = try run.run()
            print(summary.text, terminator: "")
            print("  outputs              \(out)/billing-events.jsonl, \(out)/journal-entries.jsonl, \(out)/dlq.jsonl, \(out)/lineage/, \(out)/metrics.prom")
            if !summary.complete { throw ExitCode(1) }
            return
        }
        guard let path = config else { throw fail("give --embedded, or --config FILE naming the brokers (kafka: bootstrap.servers)") }
        guard (1...256).contains(shards) else { throw fail("--shards must be in 1...256") }
        let cfg = try loadConfig(path)
        guard cfg.kafka["bootstrap.servers"] != nil else { throw fail("\(path): kafka.bootstrap.servers is not set") }
        let engine = StreamingEngine(config: cfg, kafka: cfg.kafka, lineageDirectory: out + "/lineage", shards: shards)
        engine.checkpointEvery = checkpointEvery
        let registry = PrometheusCollectorRegistry()
        engine.metrics = PrometheusMetricsFactory(registry: registry)
        if admin != "off" {
            guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]), (0...65_535).contains(port) else {
                throw fail("--admin must be HOST:PORT or off, got \(admin)")
            }
            let e = UncheckedBox(engine)
            let server = AdminServer(host: String(admin[..<colon]), port: port, probes: AdminServer.Probes(
                metrics: { registry.emitToString() }, health: { e.value.health() }, readiness: { e.value.readiness() }))
            do { try server.start() } catch { throw fail("\(error)") }
        }
        if let metricsFile {
            let log = Logger(label: "meterline.metrics")
            engine.afterCheckpoint = {
                // Written beside the target, then renamed: a reader never sees half a file.
                let tmp = metricsFile + ".tmp"
                if FileManager.default.createFile(atPath: tmp, contents: Data(registry.emitToString().utf8)), rename(tmp, metricsFile) == 0 { return }
                log.warning("cannot write the metrics file", metadata: ["path": "\(metricsFile)"])
            }
        }
        SignalFlag.install()
        engine.shouldStop = { SignalFlag.raised }
        let counters = try engine.run(until: .signal)
        print("stopped: in \(counters.input) = accepted \(counters.accepted) + duplicate \(counters.duplicate) + rejected \(counters.rejectedTotal)")
    }
}

/// SIGTERM/SIGINT set a flag the poll loop reads; the engine then drains and checkpoints.
enum SignalFlag {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    static var raised: Bool { flag != 0 }
    static func install() {
        signal(SIGTERM) { _ in SignalFlag.flag = 1 }
        signal(SIGINT) { _ in SignalFlag.flag = 1 }
    }
}

struct Price: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price a period quantity with a price book: the amount and its tier breakdown.",
        discussion: """
        Example:
          meterline price --config examples/meterline.yaml --price-book standard --meter tokens --quantity 2500000
          meterline price --config examples/meterline.yaml --price-book europe --meter tokens --quantity 0 --json
        """
    )
    @Option(help: "Config file (YAML).") var config: String
    @Option(name: .customLong("price-book"), help: "Price book id.") var priceBook: String
    @Option(help: "Meter slug.") var meter: String
    @Option(help: "Period quantity (decimal, up to 9 fractional digits).") var quantity: String
    @Option(help: "Instant that selects the price-book version (RFC 3339). Default: the newest version.") var at: String?
    @Option(name: .customLong("dimension"), help: "A dimension k=v selecting a filtered price (repeatable).") var dimensions: [String] = []
    @Flag(help: "Machine-readable output.") var json = false

    mutating func run() throws {
        let cfg = try loadConfig(config)
        let q: Quantity
        do { q = try Quantity(quantity) } catch { throw fail("--quantity \(quantity): \(error.message)") }
        var book: PriceBook?
        if let at {
            guard let t = RFC3339.parseMicros(at) else { throw fail("--at \(at): expected an RFC 3339 date-time") }
            book = cfg.priceBooks.book(id: priceBook, at: t)
        } else {
            book = cfg.priceBooks.books.last { $0.id == priceBook }
        }
        guard let book else { throw fail("no price book '\(priceBook)'\(at.map { " effective at \($0)" } ?? "")") }
        var dims: [(String, String)] = []
        for d in dimensions {
            let parts = d.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw fail("--dimension \(d): expected k=v") }
            dims.append((parts[0], parts[1]))
        }
        guard let match = book.price(meter: meter, dimensions: dims) else { throw fail("price book '\(priceBook)' v\(book.version) has no price for meter '\(meter)' with these dimensions") }
        let b: PriceBreakdown
        do { b = try match.price.price(q, rounding: cfg.settings.rounding) } catch { throw fail("\(error.message)") }
        let minor: Int128
        do { minor = try b.amount.minorUnits(digits: book.currency.minorUnitDigits, mode: cfg.settings.rounding) } catch { throw fail(error.message) }
        if json {
            var w = JSONWriter()
            w.beginObject()
            w.field("quantity", b.quantity.description)
            w.field("billableQuantity", b.billableQuantity.description)
            w.field("usageAmount", b.usageAmount.description)
            w.field("amount", b.amount.description)
            w.key("minorUnits"); w.raw(String(minor))
            w.field("currency", book.currency.code)
            w.key("priceBook"); w.beginObject(); w.field("id", book.id); w.field("version", book.version); w.endObject()
            w.field("model", match.price.model.name)
            w.key("tiers")
            w.beginArray()
            for t in b.tiers {
                w.element(); w.beginObject()
                w.field("tier", t.tier); w.field("quantity", t.quantity.description); w.field("unitAmount", t.unitAmount.description)
                w.field("flatAmount", t.flatAmount.description); w.field("amount", t.amount.description)
                w.endObject()
            }
            w.endArray()
            w.endObject()
            print(w.text)
        } else {
            print("price book \(book.id) v\(book.version), meter \(meter), model \(match.price.model.name)")
            print("quantity \(b.quantity), billable \(b.billableQuantity) (included \(match.price.includedQuantity))")
            print("tier  quantity            unit price          flat          amount")
            for t in b.tiers {
                print(TextColumn.pad(String(t.tier), 6) + TextColumn.pad(t.quantity.description, 20) + TextColumn.pad(t.unitAmount.description, 20)
                      + TextColumn.pad(t.flatAmount.description, 14) + t.amount.description)
            }
            print("usage amount \(b.usageAmount) \(book.currency)")
            if let m = match.price.minimum { print("minimum      \(m) \(book.currency)") }
            print("amount       \(b.amount) \(book.currency) = \(minor) minor units")
        }
    }
}

struct ValidateConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-config",
        abstract: "Check a config file and report every problem (file:line:col path: expectation).",
        discussion: "Example:\n  meterline validate-config examples/meterline.yaml"
    )
    @Argument(help: "Config file (YAML).") var file: String
    mutating func run() throws {
        do {
            let c = try ConfigLoader.load(path: file)
            print("\(file): ok (\(c.meters.count) meters, \(c.priceBooks.books.count) price books, \(c.contracts.count) customers, \(c.entities.count) entities)")
        } catch let e as ConfigError {
            print(e.description)
            print("\(e.problems.count) problem\(e.problems.count == 1 ? "" : "s") in \(file)")
            throw ExitCode(1)
        }
    }
}

/// Lets the admin server's threads call the engine's thread-safe probes (`health`, `readiness`: atomics only).
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
