import MeterlineCore

/// Resolves a subject to its contract: exact subjects first, then the longest `prefix*` pattern.
/// Invariant: lookups by the same subject always give the same contract; results are cached by subject hash.
public struct ContractBook: Sendable {
    let exact: [String: Int]
    let prefixes: [(String, Int)]
    public let contracts: [Contract]
    var cache = SubjectCache()

    public init(_ contracts: [Contract]) {
        self.contracts = contracts
        var exact: [String: Int] = [:]
        var prefixes: [(String, Int)] = []
        for (i, c) in contracts.enumerated() {
            if c.subject.hasSuffix("*") { prefixes.append((String(c.subject.dropLast()), i)) } else { exact[c.subject] = i }
        }
        self.exact = exact
        self.prefixes = prefixes.sorted { $0.0.count > $1.0.count }
    }

    /// The contract index for a subject, or nil (NO_CONTRACT). `subject` is only built on a cache miss.
    public mutating func lookup(hash: Hash128, subject: () -> String) -> Int? {
        if let c = cache.value(hash) { return c < 0 ? nil : Int(c) }
        let s = subject()
        var found: Int? = exact[s]
        if found == nil { found = prefixes.first { s.hasPrefix($0.0) }?.1 }
        cache.insert(hash, Int32(found ?? -1))
        return found
    }
}

/// Contract lookups by subject hash: open addressing with linear probing, at most half full, the slot taken from
/// the hash's own bits (already well mixed: no second hash, unlike a `Dictionary`, which also spreads keys and
/// values over separate arrays). One lookup per new window: its key and value share a cache line.
/// Invariant: `entries.count` is a power of two ≥ 2 × `count`; an entry with key `.zero` is empty (the zero hash
/// itself is kept apart, in `zeroValue`).
struct SubjectCache {
    struct Entry {
        var key: Hash128
        var value: Int32
    }
    private(set) var entries = [Entry](repeating: Entry(key: .zero, value: 0), count: 64)
    private(set) var count = 0
    private var zeroValue: Int32? = nil

    /// The value cached for `key`, or nil.
    @inline(__always)
    func value(_ key: Hash128) -> Int32? {
        if key == .zero { return zeroValue }
        let mask = entries.count &- 1
        var i = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let e = entries[i]
            if e.key == key { return e.value }
            if e.key == .zero { return nil }
            i = (i &+ 1) & mask
        }
    }

    /// Caches `value` for `key` (replacing a cached one).
    mutating func insert(_ key: Hash128, _ value: Int32) {
        if key == .zero { zeroValue = value; return }
        if (count + 1) * 2 > entries.count {
            let old = entries
            entries = [Entry](repeating: Entry(key: .zero, value: 0), count: old.count * 2)
            count = 0
            for e in old where e.key != .zero { insert(e.key, e.value) }
        }
        let mask = entries.count &- 1
        var i = Int(truncatingIfNeeded: key.low) & mask
        while entries[i].key != .zero && entries[i].key != key { i = (i &+ 1) & mask }
        if entries[i].key == .zero { count += 1 }
        entries[i] = Entry(key: key, value: value)
    }
}
