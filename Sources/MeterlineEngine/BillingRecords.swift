import Foundation
import MeterlineCore

/// A billing-events.jsonl line that could not be read back; names the file and line.
public struct RecordError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// Reads billing events back from their JSON form (the inverse of `BillingEvent.json()`).
public enum BillingRecords {
    public static func decode(_ o: [String: Any], file: String, line: Int) throws -> BillingEvent {
        func fail(_ m: String) -> RecordError { RecordError(file: file, line: line, message: m) }
        func str(_ k: String) throws -> String {
            guard let v = o[k] as? String else { throw fail("missing string field '\(k)'") }
            return v
        }
        func time(_ k: String) throws -> Int64 {
            guard let t = RFC3339.parseMicros(try str(k)) else { throw fail("'\(k)' is not an RFC 3339 time") }
            return t
        }
        func int(_ k: String) throws -> Int {
            guard let n = o[k] as? NSNumber else { throw fail("missing integer field '\(k)'") }
            return n.intValue
        }
        do {
            guard let kind = BillingKind(rawValue: try str("kind")) else { throw fail("unknown kind") }
            guard let currency = Currency(code: try str("currency")) else { throw fail("bad currency") }
            let dims = ((o["dimensions"] as? [String: String]) ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            var tiers: [TierLine] = []
            for t in (o["tiers"] as? [[String: Any]]) ?? [] {
                tiers.append(TierLine(tier: (t["tier"] as? NSNumber)?.intValue ?? 0, quantity: try Quantity(t["quantity"] as? String ?? "0"),
                                      unitAmount: try Amount(t["unitAmount"] as? String ?? "0"), flatAmount: try Amount(t["flatAmount"] as? String ?? "0"),
                                      amount: try Amount(t["amount"] as? String ?? "0")))
            }
            let book = o["priceBook"] as? [String: Any]
            return BillingEvent(
                id: try str("id"), kind: kind, revision: try int("revision"), subject: try str("subject"), entity: try str("entity"),
                meter: try str("meter"), dimensions: dims, windowStart: try time("windowStart"), windowEnd: try time("windowEnd"),
                periodStart: try time("periodStart"), periodEnd: try time("periodEnd"), quantity: try Quantity(try str("quantity")),
                periodQuantity: try Quantity(try str("periodQuantity")), amount: try Amount(try str("amount")),
                amountDelta: try (o["amountDelta"] as? String).map { (s) throws(DecimalError) in try Amount(s) }, currency: currency,
                priceBookId: book?["id"] as? String, priceBookVersion: (book?["version"] as? NSNumber)?.intValue, tiers: tiers,
                eventCount: try int("eventCount"), lineage: (o["lineage"] as? [String]) ?? [], reason: o["reason"] as? String,
                postedAt: try time("postedAt"))
        } catch let e as RecordError {
            throw e
        } catch {
            throw fail("\(error)")
        }
    }

    /// Reads a billing-events.jsonl file.
    public static func read(_ path: String) throws -> [BillingEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { throw RecordError(file: path, line: 0, message: "cannot read") }
        var out: [BillingEvent] = []
        for (i, line) in data.split(separator: 0x0A).enumerated() where !line.isEmpty {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw RecordError(file: path, line: i + 1, message: "not a JSON object")
            }
            out.append(try decode(o, file: path, line: i + 1))
        }
        return out
    }

    /// Writes billing events as JSON lines in canonical order (posting time, then id).
    public static func write(_ events: [BillingEvent], to path: String) throws {
        // Streamed in chunks through a temporary file (`LineFileWriter`): never the whole file in memory.
        let w = try LineFileWriter(path: path)
        var json = JSONWriter()
        do {
            // Events are read in place: iterating the array would copy each one, retaining its strings and arrays
            // (while the backfill's journal reads the same events on another core: contended reference counts).
            try events.withUnsafeBufferPointer { ev in
                for i in outputOrder(ev) {
                    json.reset()
                    ev[i].writeJSON(to: &json)
                    try json.output.withUnsafeBytes { try w.append(line: $0) }
                }
            }
            try w.finish()
        } catch {
            w.abandon()
            throw error
        }
    }
}

extension BillingRecords {
    /// Sorts billing events into output order, (postedAt, id) ascending (ids compare as Swift strings; they are hex).
    /// Sorts small (postedAt, 8-byte id prefix, index) rows, not the events (moving ~400-byte structs and comparing
    /// heap strings at every step of the merge), then applies the permutation in place by swaps along its cycles,
    /// which move events: no copy of an event's strings and arrays, hence no retain of each.
    public static func sortInOutputOrder(_ events: inout [BillingEvent]) {
        let order = events.withUnsafeBufferPointer(outputOrder)
        // Position p receives the event now at order[p]. Follow each cycle once, marking placed positions.
        // Swaps in the buffer: `UnsafeMutableBufferPointer.swapAt` moves the two events, `Array.swapAt` copies them.
        var placed = [Bool](repeating: false, count: events.count)
        events.withUnsafeMutableBufferPointer { ev in
            for start in ev.indices where !placed[start] {
                var p = start
                while true {
                    placed[p] = true
                    let from = order[p]
                    if from == start { break }
                    ev.swapAt(p, from)   // the event for p arrives; what was at p moves to `from`, whose turn is next
                    p = from
                }
            }
        }
    }

    /// The output order of `events`, (postedAt, id) ascending, as indices into them: the identity when they are
    /// in that order already (one pass over neighbours: what the backfill writes was sorted by `sortInOutputOrder`),
    /// else a sort of small (postedAt, 8-byte id prefix, index) rows; full ids are compared only on a prefix tie.
    static func outputOrder(_ ev: UnsafeBufferPointer<BillingEvent>) -> [Int] {
        func before(_ a: (posted: Int64, prefix: UInt64, index: Int), _ b: (posted: Int64, prefix: UInt64, index: Int)) -> Bool {
            if a.posted != b.posted { return a.posted < b.posted }
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            return ev[a.index].id < ev[b.index].id
        }
        var order = ev.indices.map { i -> (posted: Int64, prefix: UInt64, index: Int) in (ev[i].postedAt, BillingEvent.idPrefix(of: ev[i].id), i) }
        if order.indices.dropFirst().contains(where: { before(order[$0], order[$0 - 1]) }) { order.sort(by: before) }
        return order.map(\.index)
    }
}
