import CPrefetch
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

    /// Reads a billing-events.jsonl file, and combines its bytes, as one `combine` call, into `contentHash`: a caller
    /// that needs the file's hash does not read the file a second time, or keep its bytes.
    public static func read(_ path: String, contentHash: inout Hasher128) throws -> [BillingEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { throw RecordError(file: path, line: 0, message: "cannot read") }
        data.withUnsafeBytes { contentHash.combine($0) }
        var out: [BillingEvent] = []
        // Lines found with `memchr` (`Data.split` took ~2 s for 145k lines, more than decoding them).
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            var start = 0, number = 0
            while start < bytes.count {
                let end = memchr(base + start, 0x0A, bytes.count - start).map { base.distance(to: UnsafeRawPointer($0)) } ?? bytes.count
                number += 1
                if end > start {
                    // Numbered as the file's lines are (empty lines count, as `split` did not: errors now name the right line).
                    out.append(try decodeLine(UnsafeRawBufferPointer(start: base + start, count: end - start), file: path, line: number))
                }
                start = end + 1
            }
        }
        return out
    }

    /// One line of a billing-events file: read directly when it is in the layout `BillingEvent.writeJSON` writes
    /// (`decodeCanonical`), else through `JSONSerialization` and `decode` (another writer's key order, escapes,
    /// other number forms), with the same result either way. `JSONSerialization` took ~18 µs per line here: ~4 s for
    /// the 145k billing events a 2M-event `--previous` backfill reads back.
    static func decodeLine(_ bytes: UnsafeRawBufferPointer, file: String, line: Int, fast: Bool = true) throws -> BillingEvent {
        if fast, let e = decodeCanonical(bytes) { return e }
        guard let o = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw RecordError(file: file, line: line, message: "not a JSON object")
        }
        return try decode(o, file: file, line: line)
    }

    /// The billing event of a line in exactly the layout `BillingEvent.writeJSON` writes (its key order, strings of
    /// printable ASCII without escapes, integers without fraction or exponent), as `decode` would give it; nil for
    /// anything else, including values `decode` would reject (its error is then the one reported).
    static func decodeCanonical(_ b: UnsafeRawBufferPointer) -> BillingEvent? {
        var c = CanonicalCursor(bytes: b)
        guard c.literal("{\"id\":"), let id = c.string(),
              c.literal(",\"kind\":"), let kindText = c.string(), let kind = BillingKind(rawValue: kindText),
              c.literal(",\"revision\":"), let revision = c.integer(),
              c.literal(",\"subject\":"), let subject = c.string(),
              c.literal(",\"entity\":"), let entity = c.string(),
              c.literal(",\"meter\":"), let meter = c.string(),
              c.literal(",\"dimensions\":{")
        else { return nil }
        var dimensions: [(String, String)] = []
        if !c.literal("}") {
            repeat {
                guard let k = c.string(), c.literal(":"), let v = c.string() else { return nil }
                dimensions.append((k, v))
            } while c.literal(",")
            guard c.literal("}") else { return nil }
        }
        guard c.literal(",\"windowStart\":"), let windowStart = c.time(),
              c.literal(",\"windowEnd\":"), let windowEnd = c.time(),
              c.literal(",\"periodStart\":"), let periodStart = c.time(),
              c.literal(",\"periodEnd\":"), let periodEnd = c.time(),
              c.literal(",\"quantity\":"), let quantity = c.string().flatMap({ try? Quantity($0) }),
              c.literal(",\"periodQuantity\":"), let periodQuantity = c.string().flatMap({ try? Quantity($0) }),
              c.literal(",\"amount\":"), let amount = c.string().flatMap({ try? Amount($0) })
        else { return nil }
        var amountDelta: Amount? = nil
        if c.literal(",\"amountDelta\":") {
            guard let d = c.string().flatMap({ try? Amount($0) }) else { return nil }
            amountDelta = d
        }
        guard c.literal(",\"currency\":"), let currency = c.string().flatMap(Currency.init(code:)), c.literal(",\"priceBook\":") else { return nil }
        var priceBookId: String? = nil, priceBookVersion: Int? = nil
        if !c.literal("null") {
            guard c.literal("{\"id\":"), let pid = c.string(), c.literal(",\"version\":"), let v = c.integer(), c.literal("}") else { return nil }
            priceBookId = pid
            priceBookVersion = v
        }
        guard c.literal(",\"tiers\":[") else { return nil }
        var tiers: [TierLine] = []
        if !c.literal("]") {
            repeat {
                guard c.literal("{\"tier\":"), let tier = c.integer(),
                      c.literal(",\"quantity\":"), let q = c.string().flatMap({ try? Quantity($0) }),
                      c.literal(",\"unitAmount\":"), let unit = c.string().flatMap({ try? Amount($0) }),
                      c.literal(",\"flatAmount\":"), let flat = c.string().flatMap({ try? Amount($0) }),
                      c.literal(",\"amount\":"), let a = c.string().flatMap({ try? Amount($0) }), c.literal("}")
                else { return nil }
                tiers.append(TierLine(tier: tier, quantity: q, unitAmount: unit, flatAmount: flat, amount: a))
            } while c.literal(",")
            guard c.literal("]") else { return nil }
        }
        guard c.literal(",\"eventCount\":"), let eventCount = c.integer() else { return nil }
        var reason: String? = nil
        if c.literal(",\"reason\":") {
            guard let r = c.string() else { return nil }
            reason = r
        }
        guard c.literal(",\"postedAt\":"), let postedAt = c.time(), c.literal(",\"lineage\":[") else { return nil }
        var lineage: [String] = []
        if !c.literal("]") {
            repeat {
                guard let t = c.string() else { return nil }
                lineage.append(t)
            } while c.literal(",")
            guard c.literal("]") else { return nil }
        }
        guard c.literal("}"), c.atEnd else { return nil }
        // `decode` keeps dimensions sorted by name (a JSON object has no order).
        if dimensions.count > 1 { dimensions.sort { $0.0 < $1.0 } }
        return BillingEvent(id: id, kind: kind, revision: revision, subject: subject, entity: entity, meter: meter, dimensions: dimensions,
                            windowStart: windowStart, windowEnd: windowEnd, periodStart: periodStart, periodEnd: periodEnd,
                            quantity: quantity, periodQuantity: periodQuantity, amount: amount, amountDelta: amountDelta,
                            currency: currency, priceBookId: priceBookId, priceBookVersion: priceBookVersion, tiers: tiers,
                            eventCount: eventCount, lineage: lineage, reason: reason, postedAt: postedAt)
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
            // Events are read in place, through the buffer (`BillingEvent.writeJSON(_:to:)`): iterating the array,
            // or calling `writeJSON(to:)` on `ev[i]`, copied each event before encoding it and destroyed the copy after.
            try events.withUnsafeBufferPointer { ev in
                let order = outputOrder(ev)
                if encoders <= 1 || order.count <= run {
                    var json = JSONWriter()
                    for i in order {
                        json.reset()
                        BillingEvent.writeJSON(ev.baseAddress! + i, to: &json)
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
                    let base = events.base.baseAddress!
                    for p in lo..<hi {
                        BillingRecords.prefetch(base, ordered.base, at: p, end: hi)
                        json.reset()
                        BillingEvent.writeJSON(base + ordered.base[p], to: &json)
                        json.output.withUnsafeBytes { buffer.bytes.append($0) }
                        buffer.bytes.append(0x0A)
                    }
                }
                if let e = failure.error { throw e }
            }
        }
    }
}

extension BillingRecords {
    /// How many events ahead of the one being encoded an encoder prefetches the event; its heap memory is prefetched
    /// half as far ahead, when the event's own bytes (which say where it is) have arrived.
    static let prefetchDistance = 16

    /// Prefetch hints for encoding events in output order (`order[p]` is encoded at step `p`), issued at step `p`:
    /// the event `prefetchDistance` steps on, and the strings and arrays of the one half as far. Output order is a
    /// random walk through the events' memory: each event, then its id, dimensions, tiers and lineage key, was a
    /// cache miss of its own, most of the encoders' time on a file of many customers (where the windows of one hour
    /// all post at the same instant and so go in id order).
    @inline(__always)
    static func prefetch(_ base: UnsafePointer<BillingEvent>, _ order: UnsafeBufferPointer<Int>, at p: Int, end: Int) {
        let far = p + prefetchDistance
        if far < end {
            let event = UnsafeRawPointer(base + order[far])
            var offset = 0
            while offset < MemoryLayout<BillingEvent>.size {
                meterline_prefetch(event + offset)
                offset += 64
            }
        }
        let near = p + prefetchDistance / 2
        if near < end {
            let a = BillingEvent.heapAddresses(base + order[near])
            if let x = a.id { meterline_prefetch(x) }
            if let x = a.dimensions { meterline_prefetch(x) }
            if let x = a.tiers { meterline_prefetch(x) }
            if let x = a.lineageKey { meterline_prefetch(x) }
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

/// Reads the layout `BillingEvent.writeJSON` writes, byte by byte; every method returns nil (or false) without
/// consuming on anything it does not expect, so the caller falls back to a general JSON parser.
private struct CanonicalCursor {
    let bytes: UnsafeRawBufferPointer
    var at = 0

    var atEnd: Bool { at == bytes.count }

    /// Consumes `text` if the bytes continue with it.
    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard at + n <= bytes.count, memcmp(bytes.baseAddress! + at, text.utf8Start, n) == 0 else { return false }
        at += n
        return true
    }

    /// A string of printable ASCII without escapes (anything else: nil, for the general parser).
    mutating func string() -> String? {
        guard let r = stringBytes() else { return nil }
        return String(decoding: r, as: UTF8.self)
    }

    mutating func stringBytes() -> UnsafeRawBufferPointer? {
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { return nil }
        var i = at + 1
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                let r = UnsafeRawBufferPointer(rebasing: bytes[(at + 1)..<i])
                at = i + 1
                return r
            }
            // Escapes, control characters and non-ASCII text are left to the general parser (which also checks UTF-8).
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { return nil }
            i += 1
        }
        return nil
    }

    /// An integer as JSON writes one (no leading zero, no fraction or exponent), of at most 18 digits.
    mutating func integer() -> Int? {
        var i = at
        let negative = i < bytes.count && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var v = 0, digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            v = v * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            digits += 1
            i += 1
            if digits > 18 { return nil }
        }
        guard digits > 0, digits == 1 || bytes[negative ? at + 1 : at] != UInt8(ascii: "0"), i == bytes.count || (bytes[i] != UInt8(ascii: ".") && bytes[i] != UInt8(ascii: "e") && bytes[i] != UInt8(ascii: "E")) else { return nil }
        at = i
        return negative ? -v : v
    }

    /// An RFC 3339 time string, as `RFC3339.parseMicros` reads it.
    mutating func time() -> Int64? {
        let saved = at
        guard let r = stringBytes(), let t = RFC3339.parseMicros(r) else { at = saved; return nil }
        return t
    }
}
