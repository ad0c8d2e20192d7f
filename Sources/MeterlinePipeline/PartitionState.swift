import MeterlineCore

/// Identity of a rollup window: (subject, meter, dimensions, window start).
struct RollupKey: Hashable {
    var subject: Hash128
    var meter: Int32
    var dimensions: Hash128
    var windowStart: Int64
    /// One mixed word: the parts are hashes already (equality still compares every field).
    func hash(into hasher: inout Hasher) {
        hasher.combine(subject.low ^ dimensions.low &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: windowStart) &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(UInt32(bitPattern: meter)))
    }
}

/// Identity of a billing-period rating scope (tiers apply to the period quantity of this scope).
struct ScopeKey: Hashable {
    var subject: Hash128
    var meter: Int32
    /// Dimensions for non-additive meters and unpriced keys; the matched price's filter for additive ones.
    var discriminator: Hash128
    var periodStart: Int64
    func hash(into hasher: inout Hasher) {
        hasher.combine(subject.low ^ discriminator.low &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: periodStart) &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(UInt32(bitPattern: meter)))
    }
}

/// Aggregate of a window or a period for any aggregation.
///
/// SUM, COUNT and AVG read only `sum` and `count`, kept inline; what MIN, MAX, LATEST and UNIQUE_COUNT need
/// lives out of line in `rest` (copy on write, absent until such a reading), so an aggregate is 32 bytes and a
/// window 208 instead of 432: a busy partition holds hundreds of MB of windows and every event touches one.
/// Invariant: a reading is added to `rest` only for the aggregation that reads it (`quantity(kind)`).
struct Aggregate {
    var sum = Quantity.zero
    var count = 0
    private var rest = OutOfLine<Rest>()

    /// The state of the non-additive aggregations, with the values an empty aggregate has.
    struct Rest {
        var min: Quantity? = nil
        var max: Quantity? = nil
        var latest: Quantity? = nil
        var latestTime = Int64.min
        var latestTie = Hash128.zero
        var unique: Set<Hash128> = []
    }

    var min: Quantity? { rest.value?.min }
    var max: Quantity? { rest.value?.max }
    var latest: Quantity? { rest.value?.latest }
    var latestTime: Int64 { rest.value?.latestTime ?? .min }
    var latestTie: Hash128 { rest.value?.latestTie ?? .zero }
    var unique: Set<Hash128> { rest.value?.unique ?? [] }

    init() {}

    /// An aggregate with the given state (a snapshot being restored).
    init(sum: Quantity, count: Int, rest: Rest) {
        self.sum = sum
        self.count = count
        if rest.min != nil || rest.max != nil || rest.latest != nil || rest.latestTime != .min || rest.latestTie != .zero || !rest.unique.isEmpty {
            self.rest = OutOfLine(rest)
        }
    }

    /// Adds a reading, keeping only what `kind` reads (`quantity(kind)`): SUM, COUNT and AVG touch `sum` and `count`
    /// alone (one cache line); MIN, MAX and LATEST add their field; `unique` is kept for UNIQUE_COUNT only.
    @inline(__always)
    mutating func add(_ r: MeterReading, time: Int64, identity: Hash128, kind: Aggregation) throws(DecimalError) {
        sum = try sum.adding(r.value)
        count += 1
        switch kind {
        case .sum, .count, .avg:
            break
        case .min:
            rest.update(default: Rest()) { if $0.min == nil || r.value < $0.min! { $0.min = r.value } }
        case .max:
            rest.update(default: Rest()) { if $0.max == nil || r.value > $0.max! { $0.max = r.value } }
        case .latest:
            rest.update(default: Rest()) {
                if time > $0.latestTime || (time == $0.latestTime && identity > $0.latestTie) {
                    $0.latest = r.value; $0.latestTime = time; $0.latestTie = identity
                }
            }
        case .uniqueCount:
            rest.update(default: Rest()) { _ = $0.unique.insert(r.uniqueKey) }
        }
    }

    mutating func merge(_ o: Aggregate) throws(DecimalError) {
        sum = try sum.adding(o.sum)
        count += o.count
        guard let other = o.rest.value else { return }
        rest.update(default: Rest()) { mine in
            if let m = other.min, mine.min == nil || m < mine.min! { mine.min = m }
            if let m = other.max, mine.max == nil || m > mine.max! { mine.max = m }
            if other.latestTime > mine.latestTime || (other.latestTime == mine.latestTime && other.latestTie > mine.latestTie) {
                mine.latest = other.latest; mine.latestTime = other.latestTime; mine.latestTie = other.latestTie
            }
            mine.unique.formUnion(other.unique)
        }
    }

    /// The aggregate's quantity; AVG divides once, rounding half-even to 9 digits.
    func quantity(_ a: Aggregation) throws(DecimalError) -> Quantity {
        switch a {
        case .sum: return sum
        case .count: return Quantity(units: count)
        case .min: return min ?? .zero
        case .max: return max ?? .zero
        case .latest: return latest ?? .zero
        case .uniqueCount: return Quantity(units: unique.count)
        case .avg:
            guard count > 0 else { return .zero }
            return Quantity(raw: try FixedPoint.divideRounded(sum.raw, by: Int128(count), mode: .halfEven))
        }
    }
}

/// An open or closed window of one rollup key. The fields every accepted event touches come first
/// (`closed`, the lineage key, `contract`, `aggregate.sum`/`count`), so they share the cache line the batch
/// path prefetches (`contract` placed after the strings cost a second miss per event).
struct WindowState {
    var closed = false
    /// `lineageKey` indexes the partition's `lineage.keys` while `lineageGeneration` equals the partition's.
    var lineageGeneration: UInt32 = .max
    var lineageKey: UInt32 = 0
    var contract: Int
    var aggregate = Aggregate()
    var keyText: String
    var subject: String
    var meter: Int
    var dimensions: [(String, String)]
    var windowEnd: Int64
    /// Aggregate of late events not yet published as a revision.
    var pendingLate: Aggregate? = nil
    var revision = 0
    var amount = Amount.zero
    var quantity = Quantity.zero

    /// Byte offsets of the reference fields that rating and lineage copy (prefetch targets).
    static let keyTextOffset = MemoryLayout<WindowState>.offset(of: \WindowState.keyText)!
    static let subjectOffset = MemoryLayout<WindowState>.offset(of: \WindowState.subject)!
    static let dimensionsOffset = MemoryLayout<WindowState>.offset(of: \WindowState.dimensions)!
}

/// Rating position of a billing-period scope.
struct PeriodState {
    var periodEnd: Int64
    var contract: Int
    var subject: String
    var meter: Int
    var dimensions: [(String, String)]
    var aggregate = Aggregate()
    var quantity: Quantity? = nil
    /// Σ of window amounts posted so far in the period (usage amounts).
    var posted = Amount.zero
    var priceBookId: String? = nil
    var priceBookVersion: Int? = nil
    var priceIndex: Int? = nil
    /// The rated windows of this scope, in (window start, key text) order: late data re-derives their amounts in this order.
    var members: [RollupKey] = []
}

/// Everything one input partition owns. Only the shard that owns the partition touches it.
struct PartitionState {
    let partition: Int32
    let sourceName: String
    var counters = Counters()
    /// max event time seen (µs); Int64.min before the first accepted event.
    var maxEventTime = Int64.min
    var watermark: Int64 { maxEventTime == .min ? .min : maxEventTime - allowedLateness }
    let allowedLateness: Int64
    /// dedup: accepted (source, id) identities with the day (event time) they were seen; expired by `expireDedup`.
    var seen = DedupTable()
    var windows = WindowTable()
    /// Open windows by end time, for event-time-ordered close.
    var openByEnd = OpenWindows()
    var periods = PeriodTable()
    /// Window keys with pending late data.
    var pendingRevisions: Set<RollupKey> = []
    var lineage = LineageColumns()
    /// Bumped when `lineage` is taken by a checkpoint (window key indexes of older generations are stale).
    var lineageGeneration: UInt32 = 0
    /// The billing period [start, end) of the last accepted event's anchor day (a cache for `accept`).
    var periodCache: (anchorDay: Int, start: Int64, end: Int64) = (0, 0, 0)
    /// The window start of the last reading (a cache for `accept`).
    var windowFloor = WindowFloorMemo()
    /// The RFC 3339 text of the last window start a new window's key text was built with (windows open in bursts
    /// per window start, so formatting it once per burst instead of once per window). A cache: not state.
    var windowStartText: (micros: Int64, text: [UInt8]) = (.min, [])
    /// Where a new window's key text is put together (reused: scratch, not state).
    var keyScratch = GrowableBytes(capacity: 256)
    var firstOffset: Int64 = -1
    var lastOffset: Int64 = -1
    var nextOffset: Int64 = 0
    var billing = BillingBuffer()
    var dlq: [DLQRecord] = []
    /// Whether changes are recorded for the state changelog (`Pipeline.includeState`).
    var trackChanges = false
    var changes = PartitionChanges()
    var changelog = ChangelogIndex()

    init(partition: Int32, sourceName: String, allowedLateness: Int64) {
        self.partition = partition
        self.sourceName = sourceName
        self.allowedLateness = allowedLateness
    }
}

/// An optional value kept out of line: 8 bytes inline, value semantics (copy on write, through the array
/// that holds it). Invariant: `storage` holds zero or one element.
struct OutOfLine<T> {
    private var storage: ContiguousArray<T> = []

    init() {}
    init(_ value: T) { storage = [value] }

    var value: T? { storage.first }

    /// Changes the value in place, creating it from `initial` first when there is none.
    @inline(__always)
    mutating func update(default initial: @autoclosure () -> T, _ body: (inout T) -> Void) {
        if storage.isEmpty { storage.append(initial()) }
        body(&storage[0])
    }
}
