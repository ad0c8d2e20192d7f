import Dispatch
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
    ///
    /// With `encoders` > 1, that many threads encode consecutive runs of `encodeRun` events each into their own
    /// buffers while the previous round's buffers are written: the same bytes as one encoder (each line depends on
    /// its event only, and the runs are written in order), in a fraction of the time when cores are free. A
    /// backfill's billing file is ~650 bytes per published window, encoded at ~1.4 µs each on one core: the
    /// longest step of its serial end.
    public static func write(_ events: [BillingEvent], to path: String, encoders: Int = 1) throws {
        try write(events, to: path, encoders: encoders, run: encodeRun)
    }

    /// `write(_:to:encoders:)` with runs of `run` events (tests use short runs to cover many rounds).
    static func write(_ events: [BillingEvent], to path: String, encoders: Int, run: Int) throws {
        precondition(run > 0, "a run holds at least one event")
        // Streamed in chunks through a temporary file (`LineFileWriter`): never the whole file in memory.
        let w = try LineFileWriter(path: path)
        do {
            // Events are read through the buffer, by index: iterating the array copied each one before its
            // `writeJSON` and destroyed the copy after it (the call itself still copies the event; `pointee` and
            // a static function taking a pointer compile to the same copy).
            try events.withUnsafeBufferPointer { ev in
                let order = outputOrder(ev)
                if encoders <= 1 || order.count <= run {
                    var json = JSONWriter()
                    for i in order {
                        json.reset()
                        ev[i].writeJSON(to: &json)
                        try json.output.withUnsafeBytes { try w.append(line: $0) }
                    }
                } else {
                    try writeInParallel(ev, order: order, encoders: encoders, run: run, to: w)
                }
            }
            try w.finish()
        } catch {
            w.abandon()
            throw error
        }
    }

    /// Events per encoder and round in `write(_:to:encoders:)` (~2.7 MB of JSON per encoder and round).
    static let encodeRun = 4096

    /// Rounds of `encoders` runs of `run` events: round r is encoded while round r − 1 (the other buffer
    /// set) is written, the write being one more iteration of the same `concurrentPerform`.
    private static func writeInParallel(_ ev: UnsafeBufferPointer<BillingEvent>, order: [Int], encoders: Int, run: Int,
                                        to w: LineFileWriter) throws {
        let sets = (0..<2).map { _ in (0..<encoders).map { _ in EncodeBuffer() } }
        let perRound = encoders * run
        let rounds = (order.count + perRound - 1) / perRound
        let events = UnsafeEvents(base: ev)
        let output = WriteIteration(writer: w)
        try order.withUnsafeBufferPointer { orderBuffer in
            let ordered = UnsafeIndexes(base: orderBuffer)
            let failure = WriteFailure()
            for round in 0...rounds {
                DispatchQueue.concurrentPerform(iterations: encoders + 1) { j in
                    if j == encoders {
                        // The previous round, in run order.
                        guard round > 0, failure.error == nil else { return }
                        do {
                            for b in sets[(round - 1) % 2] { try b.bytes.withUnsafeBytes { try output.writer.append(raw: $0) } }
                        } catch {
                            failure.error = error
                        }
                        return
                    }
                    let buffer = sets[round % 2][j]
                    buffer.bytes.removeAll()
                    let lo = round * perRound + j * run
                    guard round < rounds, lo < ordered.base.count else { return }
                    let hi = min(lo + run, ordered.base.count)
                    var json = JSONWriter()
                    for p in lo..<hi {
                        json.reset()
                        events.base[ordered.base[p]].writeJSON(to: &json)
                        json.output.withUnsafeBytes { buffer.bytes.append($0) }
                        buffer.bytes.append(0x0A)
                    }
                }
                if let e = failure.error { throw e }
            }
        }
    }
}

/// One encoder's output for one round; only that encoder's iteration writes it, only the write iteration of the
/// next round reads it (`concurrentPerform` returns between the two).
private final class EncodeBuffer: @unchecked Sendable {
    var bytes = GrowableBytes(capacity: 1 << 20)
}

/// The events being written, shared read-only with the encoders for the duration of `write`.
private struct UnsafeEvents: @unchecked Sendable { let base: UnsafeBufferPointer<BillingEvent> }
/// The output order, shared read-only with the encoders.
private struct UnsafeIndexes: @unchecked Sendable { let base: UnsafeBufferPointer<Int> }
/// The write iteration's error, read after `concurrentPerform` returns.
private final class WriteFailure: @unchecked Sendable { var error: Error? }
/// The file, used by the write iteration only (one iteration per round, rounds one after another).
private struct WriteIteration: @unchecked Sendable { let writer: LineFileWriter }

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
