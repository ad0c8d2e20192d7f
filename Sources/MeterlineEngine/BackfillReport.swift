import Foundation
import MeterlineCore
import MeterlinePipeline

/// What a backfill did. `report.json` is `json()`; the table is `table()`.
/// Invariant: `counters.balanced` (in = accepted + duplicate + rejected) or the run fails.
public struct BackfillReport: Sendable {
    public var from: Int64
    public var to: Int64
    public var inputs: [String] = []
    public var shards = 1
    /// The scheduler slice the backfill's threads asked for and the kernel granted, nanoseconds (nil: the kernel
    /// reports none; see `ThreadTimeSlice`).
    public var threadTimeSlice: UInt64? = nil
    public var linesRead = 0
    public var bytesRead = 0
    public var counters = Counters()
    public var billingEvents = 0
    public var journalEntries = 0
    public var dlqRecords = 0
    public var lineageFiles = 0
    public var seconds: Double = 0
    /// entity|currency|periodStart → exact total of the re-rated period.
    public var totals: [String: Amount] = [:]
    /// With --previous: per entity|currency|subject, (previous, new).
    public var changes: [String: (previous: Amount, new: Amount)] = [:]
    public var unchangedBillingEvents = 0
    public var stateChanges: (new: Int, nowDuplicate: Int, nowRejected: Int)? = nil
    public var previous: String? = nil

    public func json() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", RFC3339.format(micros: from))
        w.field("to", RFC3339.format(micros: to))
        w.key("inputs"); w.beginArray(); for i in inputs { w.element(); w.string(i) }; w.endArray()
        w.field("shards", shards)
        if let t = threadTimeSlice { w.field("threadTimeSliceMicros", Int(t / 1000)) }
        w.field("eventsRead", linesRead)
        w.field("bytesRead", bytesRead)
        w.field("outOfRange", counters.outOfRange)
        w.field("inRange", counters.input)
        w.field("accepted", counters.accepted)
        w.field("duplicate", counters.duplicate)
        w.field("rejected", counters.rejectedTotal)
        w.key("rejectedByReason"); w.beginObject()
        for (r, n) in counters.rejected.sorted(by: { $0.key.code < $1.key.code }) { w.field(text: r.code, n) }
        w.endObject()
        w.field("conservation", counters.balanced)
        w.field("billingEvents", billingEvents)
        w.field("journalEntries", journalEntries)
        w.field("dlqRecords", dlqRecords)
        w.field("lineageFiles", lineageFiles)
        w.key("totals"); w.beginArray()
        for (k, v) in totals.sorted(by: { $0.key < $1.key }) {
            let p = k.split(separator: "|").map(String.init)
            w.element(); w.beginObject()
            w.field("entity", p[0]); w.field("currency", p[1]); w.field("period", p[2]); w.field("amount", v.description)
            w.endObject()
        }
        w.endArray()
        if let prev = previous {
            w.field("previous", prev)
            w.field("unchangedBillingEvents", unchangedBillingEvents)
            w.key("changes"); w.beginArray()
            for (k, v) in changes.sorted(by: { $0.key < $1.key }) {
                let p = k.split(separator: "|", maxSplits: 2).map(String.init)
                w.element(); w.beginObject()
                w.field("entity", p[0]); w.field("currency", p[1]); w.field("subject", p[2])
                w.field("previousTotal", v.previous.description); w.field("newTotal", v.new.description)
                w.field("delta", ((try? v.new.subtracting(v.previous)) ?? .zero).description)
                w.endObject()
            }
            w.endArray()
            if let s = stateChanges {
                w.key("eventStateChanges"); w.beginObject()
                w.field("new", s.new); w.field("nowDuplicate", s.nowDuplicate); w.field("nowRejected", s.nowRejected)
                w.endObject()
            }
        }
        w.endObject()
        return w.text
    }

    public func table() -> String {
        func row(_ k: String, _ v: Any) -> String { TextColumn.pad(k, 22) + "\(v)\n" }
        var s = "Backfill \(RFC3339.format(micros: from)) – \(RFC3339.format(micros: to)), \(shards) shard\(shards == 1 ? "" : "s")\n"
        s += row("events read", linesRead)
        s += row("out of range", counters.outOfRange)
        s += row("in range", counters.input)
        s += row("accepted", counters.accepted)
        s += row("duplicate", counters.duplicate)
        s += row("rejected", counters.rejectedTotal)
        for (r, n) in counters.rejected.sorted(by: { $0.key.code < $1.key.code }) { s += row("  " + r.code, n) }
        s += row("conservation", "in = accepted + duplicate + rejected: \(counters.input) = \(counters.accepted) + \(counters.duplicate) + \(counters.rejectedTotal) \(counters.balanced ? "holds" : "FAILS")")
        s += row("billing events", billingEvents)
        s += row("journal entries", journalEntries)
        s += row("dlq records", dlqRecords)
        s += row("lineage files", lineageFiles)
        s += row("scheduler slice", threadTimeSlice.map { "\(Double($0) / 1e6) ms per turn" } ?? "the kernel's default")
        s += "totals per entity, currency and period:\n"
        for (k, v) in totals.sorted(by: { $0.key < $1.key }) { s += "  " + TextColumn.pad(k.replacingOccurrences(of: "|", with: " "), 31) + "\(v)\n" }
        if let prev = previous {
            s += "compared with \(prev): \(unchangedBillingEvents) billing events unchanged, \(changes.count) customers changed\n"
            s += "  entity    currency  customer              previous            new                 delta\n"
            for (k, v) in changes.sorted(by: { $0.key < $1.key }) {
                let p = k.split(separator: "|", maxSplits: 2).map(String.init)
                let d = ((try? v.new.subtracting(v.previous)) ?? .zero).description
                s += "  " + TextColumn.pad(p[0], 10) + TextColumn.pad(p[1], 10) + TextColumn.pad(p[2], 22)
                s += TextColumn.pad(v.previous.description, 20) + TextColumn.pad(v.new.description, 20) + d + "\n"
            }
            if let c = stateChanges { s += "  events that changed state: \(c.new) new, \(c.nowDuplicate) now duplicate, \(c.nowRejected) now rejected\n" }
        }
        s += String(format: "%.2f s, %.0f events/s\n", seconds, seconds > 0 ? Double(linesRead) / seconds : 0)
        return s
    }
}

/// Progress of a long read: a bar on a terminal, plain periodic lines otherwise (nothing garbled in CI logs).
public final class Progress {
    let total: Int
    let isTerminal: Bool
    let started = Date()
    var lastPrint = Date.distantPast
    let output: FileHandle
    let interval: TimeInterval
    public private(set) var printed = 0

    /// `isTerminal` nil: ask isatty on the output.
    public init(totalBytes: Int, output: FileHandle = .standardError, isTerminal: Bool? = nil) {
        self.total = max(totalBytes, 1)
        self.output = output
        self.isTerminal = isTerminal ?? (isatty(output.fileDescriptor) != 0)
        self.interval = self.isTerminal ? 0.2 : 5
    }

    public func update(bytes: Int, events: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let fraction = min(Double(bytes) / Double(total), 1)
        let rate = Double(events) / elapsed
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        let mb = Double(bytes) / 1_048_576
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            output.write(Data(String(format: "\r%@ %3.0f%%  %.1f MiB  %.2f M events/s  ETA %.0f s ", bar, fraction * 100, mb, rate / 1e6, eta).utf8))
        } else {
            output.write(Data(String(format: "backfill: %.0f%% %.1f MiB read, %d events, %.0f events/s, ETA %.0f s\n", fraction * 100, mb, events, rate, eta).utf8))
        }
        printed += 1
    }

    public func finish(bytes: Int, events: Int) {
        update(bytes: bytes, events: events, force: true)
        if isTerminal { output.write(Data("\n".utf8)) }
    }
}
