import ArgumentParser
import MeterlineConfig
import MeterlineCore
import MeterlineEngine

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the in-memory pipeline on the synthetic workload of `run --embedded` (no Kafka, no files).",
        discussion: """
        Generates the workload in memory (not timed), then runs it through the pipeline the streaming engine and the
        backfill run — parse, validate, dedup, windows, rating, lineage columns, a checkpoint every 500,000 messages —
        on one thread (--shards 1) or on --shards shard threads fed by this one, and prints the conservation counters,
        the billing events, the dedup memory per id and the events per second. Exit 1 if a message was not counted.
        The package-benchmark suites under Benchmarks/ and BENCHMARKS.md hold the recorded figures.

        Examples:
          meterline bench
          meterline bench --events 5000000 --shards 2 --json
        """
    )
    @Option(help: "Config file (YAML). Default: the compiled-in copy of examples/meterline.yaml.") var config: String?
    @Option(help: "Number of events.") var events: Int = 2_000_000
    @Option(help: "Seed.") var seed: UInt64 = 42
    @Option(help: "Hours of event time the workload spans.") var hours: Int = 24
    @Option(help: "Customers per legal entity.") var customers: Int = 1000
    @Option(help: "Pipeline threads (1: this thread).") var shards: Int = 1
    @Option(help: "Input partitions the messages are spread over by key.") var partitions: Int = 8
    @Flag(help: "Print the result as one JSON object.") var json = false

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be positive") }
        guard shards >= 1 && shards <= 256 else { throw ValidationError("--shards must be in 1...256") }
        guard partitions >= 1 && partitions <= 4096 else { throw ValidationError("--partitions must be in 1...4096") }
        guard hours >= 1 else { throw ValidationError("--hours must be positive") }
        guard customers >= 1 else { throw ValidationError("--customers must be positive") }
    }

    mutating func run() throws {
        let cfg: Configuration
        if let path = config {
            cfg = try loadConfig(path)
        } else {
            do { cfg = try ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "(embedded) " + EmbeddedDefaults.configFileName) } catch {
                throw fail("the embedded default config does not load: \(error)")
            }
        }
        var o = BenchOptions(events: events)
        o.seed = seed
        o.hours = hours
        o.customersPerEntity = customers
        o.shards = shards
        o.partitions = partitions
        let r = Bench.run(config: cfg, options: o)
        print(json ? r.json : r.text, terminator: json ? "\n" : "")
        if !r.complete { throw ExitCode(1) }
    }
}
