import CoreMetrics
import MeterlineCore
import MeterlineLedger
import MeterlinePipeline

// Owns: the streaming engine's metrics (DESIGN.md §11) through swift-metrics, so the process chooses the backend
// (the CLI uses swift-prometheus). Names: prefix `meterline_`, base units, `_total` for counters, and no customer
// or subject labels (only outcome, reason and period). Never imports a metrics backend.

/// Counts what this process did, per checkpoint, from the pipeline's per-partition conservation counters.
///
/// Invariant: `baseline[p]` is partition p's counters as last reported (or as restored from its changelog), so
/// every message is counted once by the process that processed it: a partition that arrives by a rebalance
/// brings its history in its counters, and that history is not reported again.
final class EngineMetrics {
    let factory: MetricsFactory
    private var baseline: [Int32: Counters] = [:]
    private var counters: [String: Counter] = [:]
    let checkpointDuration: Timer
    let assignedPartitions: Gauge
    let stateBytes: Counter
    /// Messages between the partitions' next offsets and their high watermarks (as of the last fetches).
    let consumerLag: Gauge
    /// Processing time from a window's end (event time) to the checkpoint that publishes its first billing event.
    let windowCloseLatency: Timer
    /// Processing time from the end of a posting interval (event time) to the checkpoint that posts its journal entry.
    let journalLatency: Timer

    init(factory: MetricsFactory) {
        self.factory = factory
        checkpointDuration = Timer(label: "meterline_checkpoint_duration_seconds", dimensions: [], factory: factory)
        assignedPartitions = Gauge(label: "meterline_assigned_partitions", dimensions: [], factory: factory)
        stateBytes = Counter(label: "meterline_state_bytes_total", dimensions: [], factory: factory)
        consumerLag = Gauge(label: "meterline_consumer_lag_messages", dimensions: [], factory: factory)
        windowCloseLatency = Timer(label: "meterline_window_close_latency_seconds", dimensions: [], factory: factory)
        journalLatency = Timer(label: "meterline_event_to_journal_latency_seconds", dimensions: [], factory: factory)
        // Series that exist from the start, at 0, so a rate over them is defined before the first event.
        for outcome in ["in", "accepted", "duplicate", "rejected"] { _ = counter("meterline_events_total", [("outcome", outcome)]) }
        for label in ["meterline_late_revisions_total", "meterline_events_out_of_range_total", "meterline_key_subject_mismatch_total",
                      "meterline_billing_events_total", "meterline_journal_entries_total", "meterline_dlq_records_total",
                      "meterline_checkpoints_total", "meterline_lineage_bytes_total"] {
            _ = counter(label)
        }
    }

    /// The counter `label` with `dimensions`, made once.
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        if let c = counters[key] { return c }
        let c = Counter(label: label, dimensions: dimensions, factory: factory)
        counters[key] = c
        return c
    }

    /// A partition arrived with these counters (restored): they are its history, not this process's work.
    func adopt(partition: Int32, counters: Counters) { baseline[partition] = counters }

    /// A partition left this process.
    func forget(partition: Int32) { baseline[partition] = nil }

    /// Reports each partition's counters since its last report.
    func report(_ pipeline: Pipeline) {
        for p in pipeline.partitions {
            guard let now = pipeline.counters(partition: p) else { continue }
            let before = baseline[p] ?? Counters()
            add("meterline_events_total", [("outcome", "in")], now.input - before.input)
            add("meterline_events_total", [("outcome", "accepted")], now.accepted - before.accepted)
            add("meterline_events_total", [("outcome", "duplicate")], now.duplicate - before.duplicate)
            add("meterline_events_total", [("outcome", "rejected")], now.rejectedTotal - before.rejectedTotal)
            add("meterline_events_out_of_range_total", [], now.outOfRange - before.outOfRange)
            add("meterline_key_subject_mismatch_total", [], now.keyMismatch - before.keyMismatch)
            add("meterline_late_revisions_total", [], now.revisions - before.revisions)
            for (reason, n) in now.rejected {
                add("meterline_events_rejected_total", [("reason", reason.code)], n - (before.rejected[reason] ?? 0))
            }
            for (period, n) in now.latePeriodClosed {
                add("meterline_late_period_closed_total", [("period", RFC3339.format(micros: period))], n - (before.latePeriodClosed[period] ?? 0))
            }
            baseline[p] = now
        }
    }

    /// Latencies of what a checkpoint published at processing time `nowMicros`: first billing events of windows
    /// (`usage`, revision 0) from their window end, journal entries from the end of their posting interval.
    func recordLatencies(billing: [BillingEvent], entries: [JournalEntry], interval: Int64, nowMicros: Int64) {
        for e in billing where e.kind == .usage && e.revision == 0 {
            windowCloseLatency.recordNanoseconds(max(0, nowMicros - e.windowEnd) * 1_000)
        }
        for j in entries where j.part == 1 {
            journalLatency.recordNanoseconds(max(0, nowMicros - (j.postingDate + interval)) * 1_000)
        }
    }

    /// Adds `n` (a difference of cumulative counts: never negative for a partition this process kept).
    func add(_ label: String, _ n: Int) { add(label, [], n) }

    func add(_ label: String, _ dimensions: [(String, String)], _ n: Int) {
        let c = counter(label, dimensions)
        if n > 0 { c.increment(by: n) }
    }
}
