// `meterline lineage show`: a journal line or billing event traced back to its raw events, from an output
// directory's files alone (DESIGN §9, §13). The logic is MeterlineEngine.LineageQuery; this file parses
// arguments and prints.
import ArgumentParser
import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineLineage

struct Lineage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trace journal lines and billing events back to the raw usage events (lineage files).",
        discussion: """
        Example:
          meterline lineage show --dir out --journal-line JL-e204e2b12cbb290cd71e
        """,
        subcommands: [Show.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a journal line or billing event with the events behind it, and reconcile them.",
            discussion: """
            Reads DIR/billing-events.jsonl, DIR/journal-entries.jsonl and DIR/lineage/*.mlz (what `meterline run` \
            and `meterline backfill` write); no Kafka is needed. A journal line leads to its billing events, a \
            billing event to its rollup key, the key to its raw events (time, id, source, value, input offset).

            Checks: a billing event's events must number its eventCount and sum (Σ value) to its quantity (SUM and \
            COUNT meters; with --config, MAX/MIN meters are recomputed as max/min). A journal line's amount must \
            equal the journal's cumulative rounding replayed over its billing events; it can differ from round(Σ \
            of its billing events) by about a minor unit per (subject, meter, period): exact reconciliation holds \
            for the period total, not for one day's line. Exit status 1 when something does not reconcile, 2 on \
            bad input.

            Examples:
              meterline lineage show --dir out --journal-line JL-e204e2b12cbb290cd71e
              meterline lineage show --dir out --limit 5 --billing-event 000178cb…
              meterline lineage show --dir out --json --journal-line JL-e204e2b12cbb290cd71e
            """
        )

        @Option(help: "Output directory of a run or backfill (holds billing-events.jsonl, journal-entries.jsonl, lineage/).")
        var dir: String
        @Option(name: .customLong("journal-line"), help: "Journal line id (lineId, e.g. JL-…).")
        var journalLine: String?
        @Option(name: .customLong("billing-event"), help: "Billing event id (32 hex digits).")
        var billingEvent: String?
        @Flag(help: "Machine-readable output (one JSON object, every event).")
        var json = false
        @Option(help: "Events shown per billing event in the readable output (totals always cover all).")
        var limit: Int = 20
        @Option(help: "The run's config (YAML): meter aggregations, rounding and posting interval. Default: SUM/COUNT, half away from zero, a day.")
        var config: String?

        mutating func run() throws {
            guard (journalLine == nil) != (billingEvent == nil) else {
                throw lineageFail("give exactly one of --journal-line ID or --billing-event ID")
            }
            guard limit >= 0 else { throw lineageFail("--limit must be ≥ 0, got \(limit)") }
            let query: LineageQuery
            do { query = try LineageQuery(directory: dir) } catch { throw lineageFail(error.description) }
            if let config {
                let c: Configuration
                do { c = try ConfigLoader.load(path: config) } catch {
                    throw lineageFail(String(describing: error).split(separator: "\n").first.map(String.init) ?? "bad config \(config)")
                }
                query.rounding = c.settings.rounding
                query.postingInterval = c.settings.postingIntervalMicros
                query.aggregations = Dictionary(c.meters.map { ($0.slug, $0.aggregation) }, uniquingKeysWith: { a, _ in a })
            }
            let reconciles: Bool
            do {
                if let id = journalLine {
                    let r = try query.journalLine(id)
                    print(json ? r.json() : LineageText.journalLine(r, limit: limit), terminator: json ? "\n" : "")
                    reconciles = r.reconciles
                } else {
                    let r = try query.billingEvent(billingEvent!)
                    print(json ? r.json() : LineageText.billingEvent(r, limit: limit, indent: ""), terminator: json ? "\n" : "")
                    reconciles = r.reconciles
                }
            } catch { throw lineageFail(error.description) }
            if !reconciles { throw ExitCode(1) }
        }
    }
}

/// Prints a one-line reason to stderr and returns the exit code to throw.
private func lineageFail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("meterline: \(message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
    return ExitCode(2)
}

/// The readable tree: journal line → billing events → events.
enum LineageText {
    static func money(_ minor: Int128, _ currency: String) -> String {
        let digits = Currency(code: currency)?.minorUnitDigits ?? 2
        return FixedPoint.format(minor * FixedPoint.pow10(Amount.scale - digits), scale: Amount.scale)
    }

    static func mark(_ ok: Bool) -> String { ok ? "OK" : "DOES NOT RECONCILE" }

    static func journalLine(_ r: JournalLineLineage, limit: Int) -> String {
        let l = r.line
        var s = "journal line \(l.lineId)   entry \(l.journalId)   \(l.entity) \(l.currency)   posting \(l.postingDate)   period \(l.period)\n"
        s += "  account \(l.account)\(l.subject.map { "   subject \($0)" } ?? "")   \(l.side) \(money(l.amountMinor, l.currency)) \(l.currency) (\(l.amountMinor) minor units)   \(l.memo)\n"
        s += "  reconciliation: \(mark(r.reconciles))\n"
        s += "    Σ posted amounts of \(r.billingEvents.count) billing events   \(r.postedSum) → rounded \(r.roundedSumMinor) minor units (line − rounded = \(r.differenceMinor))\n"
        s += "    cumulative rounding replayed                    \(r.cumulativeMinor) minor units (line \(l.amountMinor))\n"
        for g in r.groups {
            s += "    group \(g.subject) / \(g.meter) / period \(g.periodStart.prefix(10)): \(g.onLine) on this line"
            if g.unlistedZeroIncrement > 0 { s += ", \(g.unlistedZeroIncrement) more rounded to 0 increments (\(g.unlistedAmount))" }
            s += "; period total \(g.periodExact) → \(g.periodMinor) minor units\n"
        }
        s += "    rule: \(r.rule)\n"
        let failing = r.billingEvents.filter { !$0.reconciles }.count
        let events = r.billingEvents.reduce(0) { $0 + $1.totals.count }
        s += "  \(r.billingEvents.count) billing events, \(events) events\(failing > 0 ? ", \(failing) billing events do not reconcile" : "")\n"
        for b in r.billingEvents { s += billingEvent(b, limit: limit, indent: "  ") }
        return s
    }

    static func billingEvent(_ b: BillingEventLineage, limit: Int, indent p: String) -> String {
        let r = b.record
        let dims = r.dimensions.isEmpty ? "" : " {" + r.dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        var s = "\(p)billing event \(r.id)   \(r.kind) rev \(r.revision)   \(r.subject) / \(r.meter)\(dims)\n"
        s += "\(p)  window \(r.windowStart) – \(r.windowEnd)   quantity \(r.quantity)   amount \(r.amount)"
        if let d = r.amountDelta { s += " (delta \(d))" }
        s += " \(r.currency)   eventCount \(r.eventCount)\n"
        s += "\(p)  \(mark(b.reconciles)): \(b.note)\n"
        if b.countDifference != 0 || b.quantityDifference != 0 {
            s += "\(p)  differences: count \(b.countDifference > 0 ? "+" : "")\(b.countDifference), quantity \(Quantity(raw: b.quantityDifference))\n"
        }
        if !b.duplicateIds.isEmpty { s += "\(p)  duplicate event ids: \(b.duplicateIds.prefix(5).joined(separator: ", "))\n" }
        var budget = limit
        for w in b.windows {
            let shown = w.events.prefix(max(0, budget))
            budget -= shown.count
            let files = w.files.map { ($0 as NSString).lastPathComponent }
            s += "\(p)  lineage \(w.ref)   (\(files.count) file\(files.count == 1 ? "" : "s"): \(files.joined(separator: ", ")))\n"
            for e in shown {
                s += "\(p)    \(RFC3339.format(micros: e.timeMicros))  \(e.id)  \(e.source)  value \(Quantity(raw: e.value))  offset \(e.offset)\n"
            }
            if w.events.count > shown.count { s += "\(p)    … \(w.events.count - shown.count) more events (--limit \(limit); --json lists all)\n" }
        }
        return s
    }
}
