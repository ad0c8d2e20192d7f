// MeterlineConfig — reads the one YAML config file into MeterlineCore values.
//
// Owns: the config file format (schemas/config.schema.json documents it), environment overrides,
// and error messages that name the file, the line and column, the path inside the file, and what
// was expected. Collects every problem, not just the first.
//
// Must never import: MeterlineKafka, MeterlineLineage, MeterlineEngine, C modules.
import Foundation
import MeterlineCore
import Yams

/// One problem in a config file: `file:line:col path: message`.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var path: String
    public var message: String
    public var description: String { "\(file):\(line):\(column) \(path): \(message)" }
}

/// All problems found in a config file (non-empty).
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Loads and checks a configuration.
public enum ConfigLoader {
    /// Loads `path`, applying `METERLINE_*` environment overrides from `environment`.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [ConfigProblem(file: path, line: 0, column: 0, path: "$", message: "cannot read the file (missing, unreadable or not UTF-8)")])
        }
        return try parse(yaml: text, file: path, environment: environment)
    }

    /// Parses YAML text; `file` is used in messages.
    public static func parse(yaml: String, file: String, environment: [String: String] = [:]) throws -> Configuration {
        var ctx = Context(file: file)
        ctx.overrides = EnvironmentOverrides(environment)
        let root: Node
        do {
            guard let r = try Yams.compose(yaml: yaml) else {
                throw ConfigError(problems: [ConfigProblem(file: file, line: 1, column: 1, path: "$", message: "the file is empty: expected a mapping with meters, priceBooks, customers, entities")])
            }
            root = r
        } catch let e as ConfigError {
            throw e
        } catch let e as YamlError {
            var mark: Mark? = nil
            var problem = "\(e)"
            switch e {
            case .scanner(_, let p, let m, _), .parser(_, let p, let m, _), .composer(_, let p, let m, _): mark = m; problem = p
            default: break
            }
            throw ConfigError(problems: [ConfigProblem(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, path: "$", message: "not valid YAML: \(problem)")])
        } catch {
            throw ConfigError(problems: [ConfigProblem(file: file, line: 0, column: 0, path: "$", message: "not valid YAML: \(error)")])
        }
        let config = ctx.configuration(root, environment: environment)
        for name in ctx.overrides.unapplied {
            ctx.problems.append(ConfigProblem(file: "environment variable \(name)", line: 0, column: 0, path: "$",
                                              message: "names no config value (expected METERLINE_ and a path of the file, e.g. METERLINE_SETTINGS_ALLOWED_LATENESS for settings.allowedLateness)"))
        }
        if !ctx.problems.isEmpty { throw ConfigError(problems: ctx.problems) }
        return config!
    }
}

/// Walks the YAML tree, recording problems instead of stopping at the first.
struct Context {
    let file: String
    var problems: [ConfigProblem] = []
    var overrides = EnvironmentOverrides([:])

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        // A value set by an environment variable is reported there, not at the file's (overridden) line.
        if let name = overrides.source(of: path) {
            problems.append(ConfigProblem(file: "environment variable \(name)", line: 0, column: 0, path: path, message: message))
            return
        }
        let m = node?.mark
        problems.append(ConfigProblem(file: file, line: m?.line ?? 0, column: m?.column ?? 0, path: path, message: message))
    }

    func isNull(_ n: Node) -> Bool {
        guard let s = n.scalar else { return false }
        return s.style == .plain && (s.string == "null" || s.string == "~" || s.string.isEmpty)
    }

    mutating func mapping(_ n: Node?, _ path: String, allowed: Set<String>) -> [String: Node]? {
        guard let n else { return nil }
        guard let m = n.mapping else { fail(n, path, "expected a mapping"); return nil }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.scalar?.string else { fail(k, path, "expected string keys"); continue }
            if !allowed.contains(key) {
                fail(k, "\(path).\(key)", "unknown field (expected one of: \(allowed.sorted().joined(separator: ", ")))")
                continue
            }
            out[key] = v
        }
        return out
    }

    mutating func string(_ n: Node?, _ path: String, required: Bool = true, parent: Node? = nil) -> String? {
        if let o = overrides.take(path) { return o.value }
        guard let n else {
            if required { fail(parent, path, "missing: expected a string") }
            return nil
        }
        guard let s = n.scalar, !isNull(n) else { fail(n, path, "expected a string"); return nil }
        return s.string
    }

    mutating func quantity(_ n: Node?, _ path: String, parent: Node?, required: Bool = false) -> Quantity? {
        guard let s = string(n, path, required: required, parent: parent) else { return nil }
        do { return try Quantity(s) } catch { fail(n, path, "expected a decimal string with at most 9 fractional digits, got \"\(s)\" (\(error.message))"); return nil }
    }

    mutating func amount(_ n: Node?, _ path: String, parent: Node?, required: Bool = false) -> Amount? {
        guard let s = string(n, path, required: required, parent: parent) else { return nil }
        do { return try Amount(s) } catch { fail(n, path, "expected a decimal string with at most 12 fractional digits, got \"\(s)\" (\(error.message))"); return nil }
    }

    mutating func time(_ n: Node?, _ path: String, parent: Node?, required: Bool) -> Int64? {
        guard let s = string(n, path, required: required, parent: parent) else { return nil }
        guard let t = RFC3339.parseMicros(s) else { fail(n, path, "expected an RFC 3339 date-time like 2026-01-01T00:00:00Z, got \"\(s)\""); return nil }
        return t
    }

    mutating func int(_ n: Node?, _ path: String, range: ClosedRange<Int>, parent: Node?, required: Bool) -> Int? {
        guard let s = string(n, path, required: required, parent: parent) else { return nil }
        guard let v = Int(s), range.contains(v) else { fail(n, path, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(s)\""); return nil }
        return v
    }

    mutating func duration(_ n: Node?, _ path: String) -> Int64? {
        guard let s = string(n, path, required: false) else { return nil }
        if let v = Context.parseDuration(s) { return v }
        fail(n, path, "expected a duration like 300ms, 5m, 2h or 3d, got \"\(s)\"")
        return nil
    }

    /// "300ms", "45s", "5m", "2h", "3d" → microseconds.
    static func parseDuration(_ s: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000)]
        for (suffix, mult) in units where s.hasSuffix(suffix) {
            let num = s.dropLast(suffix.count)
            if let v = Int64(num), v >= 0 { return v * mult }
        }
        return nil
    }

    mutating func sequence(_ n: Node?, _ path: String, required: Bool, parent: Node?) -> [Node] {
        guard let n else {
            if required { fail(parent, path, "missing: expected a list") }
            return []
        }
        guard let s = n.sequence else { fail(n, path, "expected a list"); return [] }
        return Array(s)
    }

    mutating func path(_ n: Node?, _ p: String, parent: Node?, required: Bool) -> JSONPath? {
        guard let s = string(n, p, required: required, parent: parent) else { return nil }
        do { return try JSONPath(s) } catch { fail(n, p, "expected a JSONPath like $.tokens: \(error.message)"); return nil }
    }

    mutating func configuration(_ root: Node, environment: [String: String]) -> Configuration? {
        guard let top = mapping(root, "$", allowed: ["meters", "priceBooks", "customers", "entities", "settings", "kafka", "topics", "journal"]) else { return nil }
        var meters: [Meter] = []
        for (i, n) in sequence(top["meters"], "meters", required: true, parent: root).enumerated() {
            if let m = meter(n, "meters[\(i)]") { meters.append(m) }
        }
        if meters.isEmpty && top["meters"] != nil { fail(top["meters"], "meters", "expected at least one meter") }
        var seen = Set<String>()
        for m in meters where !seen.insert(m.slug).inserted { fail(top["meters"], "meters", "duplicate meter slug '\(m.slug)'") }

        var books: [PriceBook] = []
        for (i, n) in sequence(top["priceBooks"], "priceBooks", required: true, parent: root).enumerated() {
            if let b = priceBook(n, "priceBooks[\(i)]", meters: Set(meters.map(\.slug))) { books.append(b) }
        }
        var bookVersions = Set<String>()
        let bookNodes = sequence(top["priceBooks"], "priceBooks", required: false, parent: root)
        for (i, b) in books.enumerated() where !bookVersions.insert("\(b.id)@\(b.version)").inserted {
            fail(i < bookNodes.count ? bookNodes[i] : top["priceBooks"], "priceBooks[\(i)]", "duplicate price book '\(b.id)' version \(b.version)")
        }
        var entities: [LegalEntity] = []
        var entityIds = Set<String>()
        for (i, n) in sequence(top["entities"], "entities", required: true, parent: root).enumerated() {
            if let e = entity(n, "entities[\(i)]", meters: Set(meters.map(\.slug))) {
                if !entityIds.insert(e.id).inserted { fail(n, "entities[\(i)]", "duplicate entity id '\(e.id)'") }
                entities.append(e)
            }
        }
        var contracts: [Contract] = []
        let bookIds = Set(books.map(\.id))
        var subjects = Set<String>()
        for (i, n) in sequence(top["customers"], "customers", required: false, parent: root).enumerated() {
            let p = "customers[\(i)]"
            guard let m = mapping(n, p, allowed: ["subject", "entity", "priceBook", "billingAnchorDay"]) else { continue }
            let subject = string(m["subject"], "\(p).subject", parent: n)
            let entity = string(m["entity"], "\(p).entity", parent: n)
            let book = string(m["priceBook"], "\(p).priceBook", parent: n)
            let anchor = int(m["billingAnchorDay"], "\(p).billingAnchorDay", range: 1...31, parent: n, required: false) ?? 1
            if let e = entity, !entityIds.contains(e) { fail(m["entity"], "\(p).entity", "no entity '\(e)' (expected one of: \(entityIds.sorted().joined(separator: ", ")))") }
            if let b = book, !bookIds.contains(b) { fail(m["priceBook"], "\(p).priceBook", "no price book '\(b)' (expected one of: \(bookIds.sorted().joined(separator: ", ")))") }
            if let s = subject, !subjects.insert(s).inserted { fail(m["subject"], "\(p).subject", "duplicate subject '\(s)'") }
            if let s = subject, let e = entity, let b = book {
                if let ent = entities.first(where: { $0.id == e }), let pb = books.first(where: { $0.id == b }), ent.currency != pb.currency {
                    fail(n, p, "price book '\(b)' is in \(pb.currency) but entity '\(e)' books \(ent.currency)")
                }
                contracts.append(Contract(subject: s, entity: e, priceBook: b, billingAnchorDay: anchor))
            }
        }
        var settings = EngineSettings()
        let empty = Node.mapping(Node.Mapping([]))
        if let s = mapping(top["settings"] ?? (overrides.isEmpty ? nil : empty), "settings", allowed: ["allowedLateness", "correctionHorizon", "dedupHorizon", "idleTimeout", "rounding", "maxMessageBytes", "maxDepth", "maxIdentifierBytes", "maxFuture", "postingInterval", "duplicatesToDLQ"]) {
            if let v = duration(s["allowedLateness"], "settings.allowedLateness") { settings.allowedLatenessMicros = v }
            if let v = duration(s["correctionHorizon"], "settings.correctionHorizon") { settings.correctionHorizonMicros = v }
            if let v = duration(s["dedupHorizon"], "settings.dedupHorizon") { settings.dedupHorizonMicros = v }
            if let v = duration(s["idleTimeout"], "settings.idleTimeout") { settings.idleTimeoutMicros = v }
            if let v = duration(s["maxFuture"], "settings.maxFuture") { settings.limits.maxFutureMicros = v }
            if let v = duration(s["postingInterval"], "settings.postingInterval") {
                if v <= 0 || UTC.microsPerDay % v != 0 { fail(s["postingInterval"], "settings.postingInterval", "expected a duration that divides a day (e.g. 1h, 6h, 1d)") } else { settings.postingIntervalMicros = v }
            }
            if let d = string(s["duplicatesToDLQ"], "settings.duplicatesToDLQ", required: false) {
                switch d {
                case "true": settings.duplicatesToDLQ = true
                case "false": settings.duplicatesToDLQ = false
                default: fail(s["duplicatesToDLQ"], "settings.duplicatesToDLQ", "expected true or false, got \"\(d)\"")
                }
            }
            if let r = string(s["rounding"], "settings.rounding", required: false) {
                if let m = RoundingMode(rawValue: r) { settings.rounding = m } else { fail(s["rounding"], "settings.rounding", "expected half_away_from_zero or half_even") }
            }
            if let v = int(s["maxMessageBytes"], "settings.maxMessageBytes", range: 256...(16 << 20), parent: nil, required: false) { settings.limits.maxMessageBytes = v }
            if let v = int(s["maxDepth"], "settings.maxDepth", range: 2...1024, parent: nil, required: false) { settings.limits.maxDepth = v }
            if let v = int(s["maxIdentifierBytes"], "settings.maxIdentifierBytes", range: 1...4096, parent: nil, required: false) { settings.limits.maxIdentifierBytes = v }
        }
        if let j = mapping(top["journal"] ?? (overrides.isEmpty ? nil : empty), "journal", allowed: ["detail"]) {
            if let d = string(j["detail"], "journal.detail", required: false) {
                if let v = JournalDetail(rawValue: d) { settings.journalDetail = v } else { fail(j["detail"], "journal.detail", "expected customer or summary") }
            }
        }
        var kafka: [String: String] = [:]
        if let k = top["kafka"] {
            if let m = k.mapping {
                for (kk, vv) in m {
                    guard let key = kk.scalar?.string, let value = vv.scalar?.string else { fail(kk, "kafka", "expected string properties (librdkafka names)"); continue }
                    kafka[key] = value
                }
            } else { fail(k, "kafka", "expected a mapping of librdkafka properties") }
        }
        // Environment overrides: METERLINE_KAFKA_BOOTSTRAP_SERVERS=… sets kafka["bootstrap.servers"].
        for (name, value) in environment where name.hasPrefix("METERLINE_KAFKA_") {
            let prop = name.dropFirst("METERLINE_KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            kafka[prop] = value
        }
        var topics = Configuration.Topics()
        if let t = mapping(top["topics"] ?? (overrides.isEmpty ? nil : empty), "topics", allowed: ["usage", "billing", "journal", "dlq", "state"]) {
            if let v = string(t["usage"], "topics.usage", required: false) { topics.usage = v }
            if let v = string(t["billing"], "topics.billing", required: false) { topics.billing = v }
            if let v = string(t["journal"], "topics.journal", required: false) { topics.journal = v }
            if let v = string(t["dlq"], "topics.dlq", required: false) { topics.dlq = v }
            if let v = string(t["state"], "topics.state", required: false) { topics.state = v }
        }
        return Configuration(meters: meters, priceBooks: books, contracts: contracts, entities: entities, settings: settings, kafka: kafka, topics: topics)
    }

    mutating func meter(_ n: Node, _ p: String) -> Meter? {
        guard let m = mapping(n, p, allowed: ["slug", "eventType", "aggregation", "valueProperty", "groupBy", "windowSize", "description", "id", "name"]) else { return nil }
        let slug = string(m["slug"], "\(p).slug", parent: n)
        let type = string(m["eventType"], "\(p).eventType", parent: n)
        var agg: Aggregation? = nil
        if let a = string(m["aggregation"], "\(p).aggregation", parent: n) {
            agg = Aggregation(rawValue: a)
            if agg == nil { fail(m["aggregation"], "\(p).aggregation", "expected one of \(Aggregation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(a)\"") }
        }
        let value = path(m["valueProperty"], "\(p).valueProperty", parent: n, required: agg != nil && agg != .count)
        var groupBy: [(String, JSONPath)] = []
        if let g = m["groupBy"] {
            if let gm = g.mapping {
                for (k, v) in gm {
                    guard let name = k.scalar?.string else { continue }
                    if let jp = path(v, "\(p).groupBy.\(name)", parent: g, required: true) { groupBy.append((name, jp)) }
                }
            } else { fail(g, "\(p).groupBy", "expected a mapping of dimension name → JSONPath") }
        }
        var window = WindowSize.hour
        if let w = string(m["windowSize"], "\(p).windowSize", required: false) {
            if let ws = WindowSize(rawValue: w) { window = ws } else { fail(m["windowSize"], "\(p).windowSize", "expected MINUTE, HOUR or DAY, got \"\(w)\"") }
        }
        guard let slug, let type, let agg, agg == .count || value != nil else { return nil }
        return Meter(slug: slug, eventType: type, aggregation: agg, valueProperty: agg == .count ? nil : value,
                     groupBy: groupBy, windowSize: window, description: string(m["description"], "\(p).description", required: false))
    }

    mutating func tiers(_ n: Node?, _ p: String, parent: Node) -> [Tier] {
        var out: [Tier] = []
        for (i, t) in sequence(n, "\(p).tiers", required: true, parent: parent).enumerated() {
            let tp = "\(p).tiers[\(i)]"
            guard let m = mapping(t, tp, allowed: ["upTo", "unitAmount", "flatAmount"]) else { continue }
            var upTo: Quantity? = nil
            if let u = m["upTo"], !isNull(u) {
                upTo = quantity(u, "\(tp).upTo", parent: t)
                if upTo == nil { continue }
            } else if m["upTo"] == nil {
                fail(t, "\(tp).upTo", "missing: expected a decimal string or null")
            }
            let unit = amount(m["unitAmount"], "\(tp).unitAmount", parent: t) ?? .zero
            let flat = amount(m["flatAmount"], "\(tp).flatAmount", parent: t) ?? .zero
            out.append(Tier(upTo: upTo, unitAmount: unit, flatAmount: flat))
        }
        return out
    }

    mutating func priceBook(_ n: Node, _ p: String, meters: Set<String>) -> PriceBook? {
        guard let m = mapping(n, p, allowed: ["id", "version", "currency", "effectiveFrom", "effectiveTo", "prices", "description"]) else { return nil }
        let id = string(m["id"], "\(p).id", parent: n)
        let version = int(m["version"], "\(p).version", range: 0...Int(Int32.max), parent: n, required: true)
        var currency: Currency? = nil
        if let c = string(m["currency"], "\(p).currency", parent: n) {
            currency = Currency(code: c)
            if currency == nil { fail(m["currency"], "\(p).currency", "expected an ISO 4217 code like USD, got \"\(c)\"") }
        }
        let from = time(m["effectiveFrom"], "\(p).effectiveFrom", parent: n, required: true)
        let to = time(m["effectiveTo"], "\(p).effectiveTo", parent: n, required: false)
        if let f = from, let t = to, t <= f { fail(m["effectiveTo"], "\(p).effectiveTo", "expected a time after effectiveFrom") }
        var prices: [Price] = []
        for (i, pn) in sequence(m["prices"], "\(p).prices", required: true, parent: n).enumerated() {
            let pp = "\(p).prices[\(i)]"
            guard let pm = mapping(pn, pp, allowed: ["meter", "filter", "model", "unitAmount", "tiers", "packageSize", "packageAmount", "includedQuantity", "minimum"]) else { continue }
            let meter = string(pm["meter"], "\(pp).meter", parent: pn)
            if let mt = meter, !meters.contains(mt) { fail(pm["meter"], "\(pp).meter", "no meter '\(mt)' (expected one of: \(meters.sorted().joined(separator: ", ")))") }
            var filter: [String: String] = [:]
            if let f = pm["filter"] {
                if let fm = f.mapping {
                    for (k, v) in fm { if let ks = k.scalar?.string, let vs = v.scalar?.string { filter[ks] = vs } }
                } else { fail(f, "\(pp).filter", "expected a mapping of dimension → value") }
            }
            var model: PriceModel? = nil
            switch string(pm["model"], "\(pp).model", parent: pn) {
            case "per_unit"?:
                if let u = amount(pm["unitAmount"], "\(pp).unitAmount", parent: pn, required: true) { model = .perUnit(unitAmount: u) }
            case "graduated"?: model = .graduated(tiers(pm["tiers"], pp, parent: pn))
            case "volume"?: model = .volume(tiers(pm["tiers"], pp, parent: pn))
            case "package"?:
                let size = quantity(pm["packageSize"], "\(pp).packageSize", parent: pn, required: true)
                let amt = amount(pm["packageAmount"], "\(pp).packageAmount", parent: pn, required: true)
                if let size, let amt { model = .package(size: size, amount: amt) }
            case let other?:
                fail(pm["model"], "\(pp).model", "expected per_unit, graduated, volume or package, got \"\(other)\"")
            case nil: break
            }
            let included = quantity(pm["includedQuantity"], "\(pp).includedQuantity", parent: pn) ?? .zero
            let minimum = amount(pm["minimum"], "\(pp).minimum", parent: pn)
            if let meter, let model {
                let price = Price(meter: meter, filter: filter, model: model, includedQuantity: included, minimum: minimum)
                for problem in price.problems() { fail(pn, pp, problem) }
                prices.append(price)
            }
        }
        guard let id, let version, let currency, let from else { return nil }
        return PriceBook(id: id, version: version, currency: currency, effectiveFrom: from, effectiveTo: to, prices: prices)
    }

    mutating func entity(_ n: Node, _ p: String, meters: Set<String>) -> LegalEntity? {
        guard let m = mapping(n, p, allowed: ["id", "currency", "accounts", "erp"]) else { return nil }
        let id = string(m["id"], "\(p).id", parent: n)
        var currency: Currency? = nil
        if let c = string(m["currency"], "\(p).currency", parent: n) {
            currency = Currency(code: c)
            if currency == nil { fail(m["currency"], "\(p).currency", "expected an ISO 4217 code like USD, got \"\(c)\"") }
        }
        var receivable: String? = nil, revenue: String? = nil
        var byMeter: [String: String] = [:]
        if let a = mapping(m["accounts"], "\(p).accounts", allowed: ["unbilledReceivable", "usageRevenue", "revenueByMeter"]) {
            receivable = string(a["unbilledReceivable"], "\(p).accounts.unbilledReceivable", parent: m["accounts"])
            revenue = string(a["usageRevenue"], "\(p).accounts.usageRevenue", parent: m["accounts"])
            if let bm = a["revenueByMeter"]?.mapping {
                for (k, v) in bm {
                    if let ks = k.scalar?.string, let vs = v.scalar?.string {
                        if !meters.contains(ks) { fail(k, "\(p).accounts.revenueByMeter.\(ks)", "no meter '\(ks)'") }
                        byMeter[ks] = vs
                    }
                }
            }
        } else if m["accounts"] == nil {
            fail(n, "\(p).accounts", "missing: expected unbilledReceivable and usageRevenue accounts")
        }
        var erp: [String: String] = [:]
        if let e = m["erp"]?.mapping {
            for (k, v) in e { if let ks = k.scalar?.string, let vs = v.scalar?.string { erp[ks] = vs } }
        }
        guard let id, let currency, let receivable, let revenue else { return nil }
        return LegalEntity(id: id, currency: currency, unbilledReceivable: receivable, usageRevenue: revenue, revenueByMeter: byMeter, erp: erp)
    }
}
