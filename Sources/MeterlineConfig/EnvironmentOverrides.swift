// Owns: environment overrides of config values (DESIGN.md §11: every value can be set from the environment).
// Must never import: MeterlineKafka, MeterlineLineage, MeterlineEngine, C modules.

/// Values from `METERLINE_<PATH>` environment variables, keyed by config path.
///
/// A variable names a path by its YAML keys and list indexes in capitals, with underscores anywhere (they are
/// ignored, as are case and the path's dots and brackets): `METERLINE_SETTINGS_ALLOWED_LATENESS=10m` sets
/// `settings.allowedLateness`, `METERLINE_CUSTOMERS_0_BILLING_ANCHOR_DAY=15` sets `customers[0].billingAnchorDay`.
/// The value is read as that field's YAML text would be. Only variables whose path starts with a config section
/// are overrides (`METERLINE_KAFKA_*` sets librdkafka properties; others, such as `METERLINE_BENCH_*`, are not
/// config). Invariant: each override is applied at most once; one never applied names no config value, an error.
struct EnvironmentOverrides {
    static let sections = ["meters", "pricebooks", "customers", "entities", "settings", "topics", "journal"]

    /// normalized path → (variable name, value)
    private var byPath: [String: (name: String, value: String)] = [:]
    private var applied: Set<String> = []

    init(_ environment: [String: String]) {
        for (name, value) in environment where name.hasPrefix("METERLINE_") && !name.hasPrefix("METERLINE_KAFKA_") {
            let key = EnvironmentOverrides.normalize(String(name.dropFirst("METERLINE_".count)))
            guard EnvironmentOverrides.sections.contains(where: { key.hasPrefix($0) }) else { continue }
            byPath[key] = (name, value)
        }
    }

    /// "priceBooks[0].prices[1].unitAmount" and "PRICE_BOOKS_0_PRICES_1_UNIT_AMOUNT" → "pricebooks0prices1unitamount".
    static func normalize(_ s: String) -> String {
        String(s.lowercased().filter { $0 != "." && $0 != "[" && $0 != "]" && $0 != "_" })
    }

    var isEmpty: Bool { byPath.isEmpty }

    /// The override of `path`, if a variable sets it; marks it applied.
    mutating func take(_ path: String) -> (name: String, value: String)? {
        guard !byPath.isEmpty else { return nil }
        let key = EnvironmentOverrides.normalize(path)
        guard let o = byPath[key] else { return nil }
        applied.insert(key)
        return o
    }

    /// The variable that set `path` (after `take`), for error messages.
    func source(of path: String) -> String? {
        guard !byPath.isEmpty else { return nil }
        let key = EnvironmentOverrides.normalize(path)
        return applied.contains(key) ? byPath[key]?.name : nil
    }

    /// Variables that named no config value, by name.
    var unapplied: [String] { byPath.filter { !applied.contains($0.key) }.map(\.value.name).sorted() }
}
