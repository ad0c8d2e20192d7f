import MeterlineCore

/// Resolves a subject to its contract: exact subjects first, then the longest `prefix*` pattern.
/// Invariant: lookups by the same subject always give the same contract; results are cached by subject hash.
public struct ContractBook: Sendable {
    let exact: [String: Int]
    let prefixes: [(String, Int)]
    public let contracts: [Contract]
    var cache: [Hash128: Int32] = [:]

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
        if let c = cache[hash] { return c < 0 ? nil : Int(c) }
        let s = subject()
        var found: Int? = exact[s]
        if found == nil { found = prefixes.first { s.hasPrefix($0.0) }?.1 }
        cache[hash] = Int32(found ?? -1)
        return found
    }
}
