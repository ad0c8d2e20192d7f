/// What a billing event records.
public enum BillingKind: String, Sendable {
    /// A closed rollup window, rated.
    case usage
    /// A changed window (late events or a re-rating): new totals and the delta.
    case revision
    /// Period close: base fee or minimum the windows did not carry.
    case trueUp = "true_up"
}

/// A rated rollup window (or a revision or true-up). Serialized with `json()` in the contract's key order.
/// Invariant: `id` is derived from (subject, meter, dimensions, window, price-book version, revision), so the
/// same input yields the same ids; `amount` is exact to 12 digits and is this window's share of the period
/// price (increments telescope to price(Q_period)).
public struct BillingEvent: Sendable, Equatable {
    public var id: String
    public var kind: BillingKind
    public var revision: Int
    public var subject: String
    public var entity: String
    public var meter: String
    public var dimensions: [(String, String)]
    public var windowStart: Int64
    public var windowEnd: Int64
    public var periodStart: Int64
    public var periodEnd: Int64
    public var quantity: Quantity
    public var periodQuantity: Quantity
    /// The window's amount (this revision's full amount for the window).
    public var amount: Amount
    /// For revisions: the change from the previous revision (what is posted).
    public var amountDelta: Amount?
    public var currency: Currency
    public var priceBookId: String?
    public var priceBookVersion: Int?
    public var tiers: [TierLine]
    public var eventCount: Int
    /// Lineage reference: "file#key" (file relative to the lineage directory).
    public var lineage: [String]
    /// True-up reason (`minimum` | `base_fee`).
    public var reason: String?
    /// Event time at which the amount is booked: the window start for usage; for revisions and true-ups,
    /// the partition watermark when they were decided. Journals post by this instant's posting day.
    public var postedAt: Int64

    public init(id: String, kind: BillingKind, revision: Int, subject: String, entity: String, meter: String,
                dimensions: [(String, String)], windowStart: Int64, windowEnd: Int64, periodStart: Int64, periodEnd: Int64,
                quantity: Quantity, periodQuantity: Quantity, amount: Amount, amountDelta: Amount?, currency: Currency,
                priceBookId: String?, priceBookVersion: Int?, tiers: [TierLine], eventCount: Int, lineage: [String], reason: String? = nil, postedAt: Int64) {
        self.id = id; self.kind = kind; self.revision = revision; self.subject = subject; self.entity = entity
        self.meter = meter; self.dimensions = dimensions; self.windowStart = windowStart; self.windowEnd = windowEnd
        self.periodStart = periodStart; self.periodEnd = periodEnd; self.quantity = quantity; self.periodQuantity = periodQuantity
        self.amount = amount; self.amountDelta = amountDelta; self.currency = currency; self.priceBookId = priceBookId
        self.priceBookVersion = priceBookVersion; self.tiers = tiers; self.eventCount = eventCount; self.lineage = lineage
        self.reason = reason
        self.postedAt = postedAt
    }

    /// The amount this event adds to the books: `amountDelta` for revisions, else `amount`.
    public var postedAmount: Amount { amountDelta ?? amount }

    /// Derives a billing event id (32 hex digits).
    public static func deriveId(subject: String, meter: String, dimensions: [(String, String)], windowStart: Int64,
                                kind: BillingKind, priceBookVersion: Int?, revision: Int) -> String {
        var h = Hasher128()
        h.combine("billing/v1")
        h.combine(subject)
        h.combine(meter)
        for (k, v) in dimensions { h.combine(k); h.combine(v) }
        h.combine(UInt64(bitPattern: windowStart))
        h.combine(kind.rawValue)
        h.combine(UInt64(bitPattern: Int64(priceBookVersion ?? -1)))
        h.combine(UInt64(revision))
        return h.finalize().description
    }

    public static func == (a: BillingEvent, b: BillingEvent) -> Bool { a.json() == b.json() }

    /// Canonical JSON (one line, keys in the contract's order, decimals as strings).
    public func json() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", id)
        w.field("kind", kind.rawValue)
        w.field("revision", revision)
        w.field("subject", subject)
        w.field("entity", entity)
        w.field("meter", meter)
        w.key("dimensions")
        w.beginObject()
        for (k, v) in dimensions { w.field(k, v) }
        w.endObject()
        w.field("windowStart", RFC3339.format(micros: windowStart))
        w.field("windowEnd", RFC3339.format(micros: windowEnd))
        w.field("periodStart", RFC3339.format(micros: periodStart))
        w.field("periodEnd", RFC3339.format(micros: periodEnd))
        w.field("quantity", quantity.description)
        w.field("periodQuantity", periodQuantity.description)
        w.field("amount", amount.description)
        if let d = amountDelta { w.field("amountDelta", d.description) }
        w.field("currency", currency.code)
        w.key("priceBook")
        if let pid = priceBookId, let v = priceBookVersion {
            w.beginObject(); w.field("id", pid); w.field("version", v); w.endObject()
        } else {
            w.null()
        }
        w.key("tiers")
        w.beginArray()
        for t in tiers {
            w.element()
            w.beginObject()
            w.field("tier", t.tier)
            w.field("quantity", t.quantity.description)
            w.field("unitAmount", t.unitAmount.description)
            w.field("flatAmount", t.flatAmount.description)
            w.field("amount", t.amount.description)
            w.endObject()
        }
        w.endArray()
        w.field("eventCount", eventCount)
        if let r = reason { w.field("reason", r) }
        w.field("postedAt", RFC3339.format(micros: postedAt))
        w.key("lineage")
        w.beginArray()
        for l in lineage { w.element(); w.string(l) }
        w.endArray()
        w.endObject()
        return w.text
    }
}

/// A minimal canonical JSON writer: keys in the order written, strings escaped per RFC 8259.
/// Invariant: produces one line; the same calls give the same bytes.
public struct JSONWriter {
    public private(set) var text = ""
    var needsComma: [Bool] = []
    public init() { text.reserveCapacity(512) }

    mutating func separator() {
        if let last = needsComma.last {
            if last { text += "," }
            needsComma[needsComma.count - 1] = true
        }
    }
    public mutating func beginObject() { text += "{"; needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); text += "}" }
    public mutating func beginArray() { text += "["; needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); text += "]" }
    /// Marks the start of an array element (writes the comma).
    public mutating func element() { separator() }
    public mutating func key(_ k: String) {
        separator()
        string(k)
        text += ":"
    }
    public mutating func field(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func field(_ k: String, _ v: Int) { key(k); text += String(v) }
    public mutating func field(_ k: String, _ v: Int64) { key(k); text += String(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); text += v ? "true" : "false" }
    public mutating func raw(_ json: String) { text += json }
    public mutating func null() { text += "null" }
    public mutating func string(_ s: String) {
        text += "\""
        // Fast path: nothing to escape (the common case for ids, decimals, times) → append as a whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            text += s
            text += "\""
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    text.unicodeScalars.append(u)
                }
            }
        }
        text += "\""
    }
}
