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
    /// Lineage references, each "file#key" (file relative to the lineage directory), as `references` holds them.
    public var lineage: [String] { references.texts }
    /// The lineage references in the form they were made in: a window's (source, key text) pair as the pipeline
    /// publishes it, so publishing builds no string and no array per event.
    public var references: LineageReferences
    /// True-up reason (`minimum` | `base_fee`).
    public var reason: String?
    /// Event time at which the amount is booked: the window start for usage; for revisions and true-ups,
    /// the partition watermark when they were decided. Journals post by this instant's posting day.
    public var postedAt: Int64

    public init(id: String, kind: BillingKind, revision: Int, subject: String, entity: String, meter: String,
                dimensions: [(String, String)], windowStart: Int64, windowEnd: Int64, periodStart: Int64, periodEnd: Int64,
                quantity: Quantity, periodQuantity: Quantity, amount: Amount, amountDelta: Amount?, currency: Currency,
                priceBookId: String?, priceBookVersion: Int?, tiers: [TierLine], eventCount: Int, lineage: [String], reason: String? = nil, postedAt: Int64) {
        self.init(id: id, kind: kind, revision: revision, subject: subject, entity: entity, meter: meter, dimensions: dimensions,
                  windowStart: windowStart, windowEnd: windowEnd, periodStart: periodStart, periodEnd: periodEnd, quantity: quantity,
                  periodQuantity: periodQuantity, amount: amount, amountDelta: amountDelta, currency: currency, priceBookId: priceBookId,
                  priceBookVersion: priceBookVersion, tiers: tiers, eventCount: eventCount, references: LineageReferences(lineage),
                  reason: reason, postedAt: postedAt)
    }

    /// Inlinable: the pipeline builds one per closed window, and an outlined call took its ~20 arguments and then
    /// copied the ~320-byte result once more.
    @inlinable
    public init(id: String, kind: BillingKind, revision: Int, subject: String, entity: String, meter: String,
                dimensions: [(String, String)], windowStart: Int64, windowEnd: Int64, periodStart: Int64, periodEnd: Int64,
                quantity: Quantity, periodQuantity: Quantity, amount: Amount, amountDelta: Amount?, currency: Currency,
                priceBookId: String?, priceBookVersion: Int?, tiers: [TierLine], eventCount: Int, references: LineageReferences,
                reason: String? = nil, postedAt: Int64) {
        self.id = id; self.kind = kind; self.revision = revision; self.subject = subject; self.entity = entity
        self.meter = meter; self.dimensions = dimensions; self.windowStart = windowStart; self.windowEnd = windowEnd
        self.periodStart = periodStart; self.periodEnd = periodEnd; self.quantity = quantity; self.periodQuantity = periodQuantity
        self.amount = amount; self.amountDelta = amountDelta; self.currency = currency; self.priceBookId = priceBookId
        self.priceBookVersion = priceBookVersion; self.tiers = tiers; self.eventCount = eventCount; self.references = references
        self.reason = reason
        self.postedAt = postedAt
    }

    /// The amount this event adds to the books: `amountDelta` for revisions, else `amount`. Inlinable: the
    /// journal reads it on events in a buffer, where a call into this module would copy the event first.
    @inlinable public var postedAmount: Amount { amountDelta ?? amount }

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

    /// The first 8 bytes of `id` as a big-endian word (zero-padded): ordering by it, then by `id` on a tie, is
    /// ordering by `id` (ids are ASCII hex, so String order is byte order), without comparing heap strings.
    /// A function of the id, not a property of the event: callers read events through buffers from other
    /// modules, where a property called on `buffer[i]` would copy the whole event first (retaining its strings
    /// and arrays), while `idPrefix(of: buffer[i].id)` reads the one field.
    public static func idPrefix(of id: String) -> UInt64 {
        var text = id
        return text.withUTF8 { b in
            // One load for the usual 32-digit id; byte by byte for a shorter one.
            if b.count >= 8 { return UInt64(bigEndian: UnsafeRawBufferPointer(b).loadUnaligned(as: UInt64.self)) }
            var prefix: UInt64 = 0
            for (i, byte) in b.enumerated() { prefix |= UInt64(byte) << UInt64(8 * (7 - i)) }
            return prefix
        }
    }

    /// Whether id `a` comes before id `b`: by `idPrefix`, then by the ids on a tie (the order posting meets events).
    public static func idPrecedes(_ a: String, _ b: String) -> Bool {
        let pa = idPrefix(of: a), pb = idPrefix(of: b)
        return pa != pb ? pa < pb : a < b
    }

    /// Canonical JSON (one line, keys in the contract's order, decimals as strings).
    public func json() -> String { jsonWriter().text }

    /// `json()` as UTF-8 bytes, without the String.
    public func jsonBytes() -> [UInt8] { jsonWriter().bytes }

    func jsonWriter() -> JSONWriter {
        var w = JSONWriter()
        writeJSON(to: &w)
        return w
    }

    /// Writes `json()` to `w` (as one top-level value): for writing many events through one reused writer.
    /// Encoders of events held in a buffer use `writeJSON(_:to:)`, which does not copy the event.
    public func writeJSON(to w: inout JSONWriter) {
        var event = self
        event.writeInPlace(to: &w)
    }

    /// `writeJSON(to:)` of the event at `event`, read where it lies. Called on `buffer[i]`, `writeJSON(to:)` gets a
    /// copy of the event: the compiler does not borrow a value from memory it cannot prove unchanged during the call,
    /// so it retains the event's ~10 strings and arrays before and releases them after (~a quarter of the billing
    /// encoders' time). An `inout` access is exclusive for its duration, so the fields are read in place.
    /// `event` is only read.
    public static func writeJSON(_ event: UnsafePointer<BillingEvent>, to w: inout JSONWriter) {
        UnsafeMutablePointer(mutating: event).pointee.writeInPlace(to: &w)
    }

    /// Where the heap memory that `writeJSON` reads besides the event lies: the id's bytes, the dimension and tier
    /// arrays' storage (from their headers) and the lineage key's bytes; nil where there is none. For prefetch hints
    /// issued some events ahead of encoding: encoders go through events in output order, a random walk through their
    /// memory, where each of these is a cache miss of its own after the event's. Addresses only, read in place (no
    /// retain); valid while the event is unchanged. `event` is only read.
    public static func heapAddresses(_ event: UnsafePointer<BillingEvent>) -> HeapAddresses {
        UnsafeMutablePointer(mutating: event).pointee.heapAddressesInPlace()
    }

    /// The addresses of `heapAddresses(_:)`.
    public struct HeapAddresses {
        public var id: UnsafeRawPointer?
        public var dimensions: UnsafeRawPointer?
        public var tiers: UnsafeRawPointer?
        public var lineageKey: UnsafeRawPointer?
    }

    /// `mutating` only so that it reads the event in place; it writes nothing.
    mutating func heapAddressesInPlace() -> HeapAddresses {
        // An array's count lies in the header before its elements: the header's line holds both.
        @inline(__always) func header<T>(_ a: UnsafeBufferPointer<T>) -> UnsafeRawPointer? {
            a.isEmpty ? nil : UnsafeRawPointer(a.baseAddress!) - 32
        }
        return HeapAddresses(
            id: id.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil,
            dimensions: dimensions.withUnsafeBufferPointer(header),
            tiers: tiers.withUnsafeBufferPointer(header),
            lineageKey: references.keyAddress)
    }

    /// The body of `writeJSON`: `mutating` only so that it is called on an `inout` access (see `writeJSON(_:to:)`);
    /// it writes nothing to the event.
    mutating func writeInPlace(to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", id)
        w.field("kind", kind.rawValue)
        w.field("revision", revision)
        w.field("subject", subject)
        w.field("entity", entity)
        w.field("meter", meter)
        w.key("dimensions")
        w.beginObject()
        for (k, v) in dimensions { w.field(text: k, v) }
        w.endObject()
        w.field("windowStart", micros: windowStart)
        w.field("windowEnd", micros: windowEnd)
        w.field("periodStart", micros: periodStart)
        w.field("periodEnd", micros: periodEnd)
        w.field("quantity", quantity)
        w.field("periodQuantity", periodQuantity)
        w.field("amount", amount)
        if let d = amountDelta { w.field("amountDelta", d) }
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
            w.field("quantity", t.quantity)
            w.field("unitAmount", t.unitAmount)
            w.field("flatAmount", t.flatAmount)
            w.field("amount", t.amount)
            w.endObject()
        }
        w.endArray()
        w.field("eventCount", eventCount)
        if let r = reason { w.field("reason", r) }
        w.field("postedAt", micros: postedAt)
        w.key("lineage")
        w.beginArray()
        references.write(to: &w)
        w.endArray()
        w.endObject()
    }
}

/// A billing event's lineage references ("file#key"): none, one window's (lineage source, rollup key text) pair
/// kept apart, or texts as read back from a billing-events file.
/// Invariant: `texts` is what the billing event's JSON holds, whichever form made it; a pair's texts are
/// `[source + "#" + key]`.
public struct LineageReferences: Sendable {
    @usableFromInline enum Form: Sendable {
        case window(source: String, key: String)
        case texts([String])
    }
    @usableFromInline var form: Form

    /// References as texts (none for an empty array).
    @inlinable public init(_ texts: [String]) { form = .texts(texts) }

    /// One window's reference: its lineage source and rollup key text, joined only when written.
    @inlinable public init(source: String, key: String) { form = .window(source: source, key: key) }

    /// No references (true-ups).
    public static let none = LineageReferences([])

    /// The references as "file#key" texts (builds them for a window's pair: for tools and tests, not per event).
    public var texts: [String] {
        switch form {
        case .window(let source, let key): return [source + "#" + key]
        case .texts(let t): return t
        }
    }

    /// Where a window reference's key text lies (nil for other forms): a prefetch target, see `BillingEvent.heapAddresses`.
    var keyAddress: UnsafeRawPointer? {
        guard case .window(_, let key) = form else { return nil }
        return key.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    /// Writes the references as the elements of the JSON array the caller has begun.
    func write(to w: inout JSONWriter) {
        switch form {
        case .window(let source, let key): w.element(); w.string(source, "#", key)
        case .texts(let t): for l in t { w.element(); w.string(l) }
        }
    }
}
