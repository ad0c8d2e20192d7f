// LineageQuery — `meterline lineage show`: from an output directory alone (billing-events.jsonl,
// journal-entries.jsonl, lineage/*.mlz), a journal line leads to its billing events, a billing event to its
// rollup key(s), a key to the raw events that made it (DESIGN §9). No Kafka, no configuration needed.
import Foundation
import MeterlineCore
import MeterlineLineage

/// A lineage query failed: unknown id, unreadable output file, or a damaged lineage file.
/// Invariant: `description` is one line and names the file concerned (`file`, when there is one).
public struct LineageQueryError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// The file concerned (path), if any.
    public var file: String?
    public init(_ message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }
    public var description: String { message }
}

/// Answers lineage questions from an output directory: `billingEvent(_:)` and `journalLine(_:)`.
///
/// Invariant: billing and journal files are read once, at `init`, but JSON-parsed lazily: a query parses only the
/// lines that can hold what it needs (found by a byte scan, see `LineIndex`), and `billing`/`journalLines` parse
/// everything on first access. Results are those of a full parse; a malformed line is reported by the query (or
/// the full index) that parses it rather than by `init`. The lineage directory is listed once and each lineage
/// file's footer is read on first use and cached. Not thread-safe (one query at a time).
public final class LineageQuery {
    public let directory: String
    public var billingPath: String { directory + "/billing-events.jsonl" }
    public var journalPath: String { directory + "/journal-entries.jsonl" }
    public var lineagePath: String { directory + "/lineage" }
    /// Rounding of amounts to minor units (the run's `settings.rounding`).
    public var rounding: RoundingMode = .halfAwayFromZero
    /// The journal posting interval (the run's `settings.postingInterval`).
    public var postingInterval: Int64 = UTC.microsPerDay
    /// Meter slug → aggregation, when known (from the config); unknown meters are checked as SUM/COUNT.
    public var aggregations: [String: Aggregation] = [:]

    /// Every billing event by id (the last line wins). Parses the whole file on first access; if a line is malformed,
    /// holds the lines before it (the queries report the error).
    public var billing: [String: BillingRecord] {
        _ = try? indexAll()
        return full?.billing ?? [:]
    }
    /// Every journal line by lineId (the last occurrence wins). Parses the whole file on first access, like `billing`.
    public var journalLines: [String: JournalLineRecord] {
        _ = try? indexAll()
        return full?.journalLines ?? [:]
    }
    /// Raw bytes of billing-events.jsonl and journal-entries.jsonl (nil when absent), read at `init`.
    let billingData: Data
    let journalData: Data?
    /// The full parse (`billing`, `journalLines`, groups), built on demand; nil until then.
    var full: FullIndex? = nil
    /// Line table and id index of the billing file, built on the first lookup.
    var billingLines: LineIndex? = nil
    /// Records found by the targeted scans (id → record of its last line; a nil value: no such id).
    var billingCache: [String: BillingRecord?] = [:]
    var journalCache: [String: JournalLineRecord?] = [:]
    /// Group key → member ids in file order (one per line), from the targeted scans.
    var groupCache: [String: [String]] = [:]
    var journalLineIndex: LineIndex? = nil
    /// `"<subject>"` → billing lines holding it (one scan of the file per subject).
    var subjectLines: [String: [Int]] = [:]
    /// The error of the full parse, if it failed.
    var fullError: LineageQueryError? = nil
    var filesBySource: [String: [String]]? = nil
    var openFiles: [String: LineageFile] = [:]

    /// Opens DIR: indexes billing-events.jsonl (required) and journal-entries.jsonl (if present).
    public init(directory: String) throws(LineageQueryError) {
        var d = directory
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        self.directory = d
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else {
            throw LineageQueryError("\(d) is not a directory", file: d)
        }
        let billingPath = d + "/billing-events.jsonl", journalPath = d + "/journal-entries.jsonl"
        // Mapped, not copied: a query touches the pages once, in the byte scans.
        guard let b = try? Data(contentsOf: URL(fileURLWithPath: billingPath), options: .alwaysMapped) else {
            throw LineageQueryError("cannot read \(billingPath)", file: billingPath)
        }
        billingData = b
        if FileManager.default.fileExists(atPath: journalPath) {
            guard let j = try? Data(contentsOf: URL(fileURLWithPath: journalPath), options: .alwaysMapped) else {
                throw LineageQueryError("cannot read \(journalPath)", file: journalPath)
            }
            journalData = j
        } else {
            journalData = nil
        }
    }

    // MARK: Queries

    /// The billing event `id`, its rollup windows and raw events, reconciled against its quantity and count.
    public func billingEvent(_ id: String) throws(LineageQueryError) -> BillingEventLineage {
        guard let r = try billingRecord(id) else { throw LineageQueryError("no billing event \(id) in \(billingPath)", file: billingPath) }
        return try resolve(r)
    }

    /// The journal line `id`, its billing events (each with its events) and the reconciliation of its amount.
    public func journalLine(_ id: String) throws(LineageQueryError) -> JournalLineLineage {
        guard let line = try journalLineRecord(id) else {
            let exists = FileManager.default.fileExists(atPath: journalPath)
            throw LineageQueryError(exists ? "no journal line \(id) in \(journalPath)" : "\(journalPath) does not exist", file: journalPath)
        }
        var resolved: [BillingEventLineage] = []
        var sum = Amount.zero
        for b in line.billingEvents {
            guard let r = try billingRecord(b) else {
                throw LineageQueryError("journal line \(id) names billing event \(b), which is not in \(billingPath)", file: billingPath)
            }
            resolved.append(try resolve(r))
            sum = (try? sum.adding(r.postedAmount)) ?? sum
        }
        let digits = Currency(code: line.currency)?.minorUnitDigits ?? 2
        let rounded = (try? Amount(raw: sum.raw < 0 ? -sum.raw : sum.raw).minorUnits(digits: digits, mode: rounding)) ?? 0

        // Replay the journal's cumulative rounding for the groups of the line's billing events.
        let onLine = Set(line.billingEvents)
        var cumulative: Int128 = 0
        var groups: [RoundingGroup] = []
        var seen: Set<String> = []
        for b in line.billingEvents {
            let r = try billingRecord(b)!
            let gk = groupKey(r)
            guard seen.insert(gk).inserted else { continue }
            var members: [BillingRecord] = []
            for m in try groupMemberIds(r) { if let x = try billingRecord(m) { members.append(x) } }
            members = members
                .sorted { (UTC.floor($0.postedAtMicros, postingInterval), $0.id) < (UTC.floor($1.postedAtMicros, postingInterval), $1.id) }
            let lineIntervals = Set(members.filter { onLine.contains($0.id) }.map { UTC.floor($0.postedAtMicros, postingInterval) })
            var exact = Amount.zero
            var posted: Int128 = 0
            var g = RoundingGroup(entity: r.entity, subject: r.subject, meter: r.meter, periodStart: r.periodStart, periodExact: .zero,
                                  periodMinor: 0, onLine: 0, unlistedZeroIncrement: 0, unlistedAmount: .zero)
            for m in members {
                exact = (try? exact.adding(m.postedAmount)) ?? exact
                let target = (try? exact.minorUnits(digits: digits, mode: rounding)) ?? posted
                let now = target - posted
                posted = target
                if onLine.contains(m.id) {
                    g.onLine += 1
                    cumulative += now < 0 ? -now : now
                } else if now == 0 && lineIntervals.contains(UTC.floor(m.postedAtMicros, postingInterval)) {
                    g.unlistedZeroIncrement += 1
                    g.unlistedAmount = (try? g.unlistedAmount.adding(m.postedAmount)) ?? g.unlistedAmount
                }
            }
            g.periodExact = exact
            g.periodMinor = posted
            groups.append(g)
        }
        let amount = line.amountMinor
        let rule = """
        journal amounts are rounded cumulatively per (entity, subject, meter, period): each billing event posts \
        round(cumulative after) − round(cumulative before), so a single line can differ from round(Σ of its billing \
        events) by about 1 minor unit per group (plus unlisted events whose increment rounded to 0); the replay of \
        that rule must match the line exactly, and each group's lines sum exactly to its rounded period total
        """
        return JournalLineLineage(
            line: line, billingEvents: resolved, postedSum: sum, roundedSumMinor: rounded,
            differenceMinor: amount - rounded, cumulativeMinor: cumulative, groups: groups,
            reconciles: cumulative == amount && resolved.allSatisfy(\.reconciles), rule: rule)
    }

    // MARK: Lineage files

    /// Resolves a billing record's lineage references and reconciles them.
    func resolve(_ r: BillingRecord) throws(LineageQueryError) -> BillingEventLineage {
        var windows: [LineageWindow] = []
        for ref in r.lineage { windows.append(try window(ref)) }
        let all = windows.flatMap(\.events)
        let totals = EventTotals(all)
        var counted = all
        var later = 0
        if windows.count == 1 && all.count > r.eventCount && r.kind != "true_up" {
            // The key kept receiving events after this billing event (late events, counted by a later revision):
            // within one source, events are in offset order, so this one counted the first eventCount.
            later = all.count - r.eventCount
            counted = Array(all.prefix(r.eventCount))
        }
        let c = EventTotals(counted)
        var rule: QuantityRule
        switch aggregations[r.meter] {
        case nil, .sum?, .count?: rule = .sum
        case .max?: rule = .max
        case .min?: rule = .min
        default: rule = .countOnly
        }
        if r.lineage.isEmpty { rule = .noLineage }
        let recomputed: Quantity?
        switch rule {
        case .sum: recomputed = c.quantity
        case .max: recomputed = counted.map(\.value).max().map { Quantity(raw: $0) }
        case .min: recomputed = counted.map(\.value).min().map { Quantity(raw: $0) }
        case .noLineage, .countOnly: recomputed = nil
        }
        var ids: [String: Int] = [:]
        for e in all { ids[e.id, default: 0] += 1 }
        let duplicates = ids.filter { $0.value > 1 }.map(\.key).sorted()
        let countDiff = c.count - r.eventCount
        let qDiff: Int128 = recomputed.map { $0.raw &- r.quantity.raw } ?? 0
        let reconciles: Bool
        let note: String
        switch rule {
        case .noLineage:
            reconciles = r.eventCount == 0
            note = r.kind == "true_up" ? "true-up: priced from the period total, no events of its own" : "no lineage reference"
        case .countOnly:
            reconciles = countDiff == 0 && duplicates.isEmpty
            note = "\(aggregations[r.meter]!.rawValue) meter: event count checked, quantity not recomputed"
        default:
            reconciles = countDiff == 0 && qDiff == 0 && duplicates.isEmpty
            let what = rule == .sum ? "Σ value" : "\(rule.rawValue) value"
            note = "\(c.count) events, \(what) \(recomputed.map(\.description) ?? "-") vs eventCount \(r.eventCount), quantity \(r.quantity)"
                + (later > 0 ? "; \(later) later events belong to later revisions" : "")
        }
        return BillingEventLineage(record: r, windows: windows, totals: totals, counted: c, laterEvents: later, rule: rule,
                                   recomputedQuantity: recomputed, countDifference: countDiff, quantityDifference: qDiff,
                                   duplicateIds: duplicates, reconciles: reconciles, note: note)
    }

    /// One lineage reference "<source>#<key>" (or "<file>.mlz#<key>"): the key's events from every file of the source.
    func window(_ ref: String) throws(LineageQueryError) -> LineageWindow {
        let listing = try listing()
        // The source is a prefix of the reference up to a '#'; a source or key may itself contain '#', so try
        // every split whose source has files, leftmost first.
        var candidates: [(source: String, key: String, files: [String])] = []
        var i = ref.startIndex
        while let h = ref[i...].firstIndex(of: "#") {
            let source = String(ref[..<h]), key = String(ref[ref.index(after: h)...])
            if source.hasSuffix(".mlz"), FileManager.default.fileExists(atPath: lineagePath + "/" + source) {
                candidates.append((source, key, [source]))
            } else if let files = listing[Self.encodedSource(source)] {
                candidates.append((source, key, files))
            }
            i = ref.index(after: h)
        }
        guard !candidates.isEmpty else {
            throw LineageQueryError("no lineage file for \(ref) in \(lineagePath)", file: lineagePath)
        }
        for c in candidates {
            var events: [LineageEvent] = []
            var holding: [String] = []
            for name in c.files {
                let f = try file(name)
                guard f.summary(forKey: c.key) != nil else { continue }
                do {
                    events.append(contentsOf: try f.events(forKey: c.key))
                } catch let e as LineageError {
                    throw LineageQueryError(e.description, file: e.file)
                } catch {
                    throw LineageQueryError("lineage file \(f.path): \(error)", file: f.path)
                }
                holding.append(f.path)
            }
            guard !holding.isEmpty else { continue }
            // Stable: files are in offset order and events in append (offset) order within a file.
            let ordered = events.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)
            let source = c.source.hasSuffix(".mlz") ? (try file(c.source)).source : c.source
            return LineageWindow(ref: ref, source: source, key: c.key, files: holding, events: ordered)
        }
        let c = candidates[0]
        throw LineageQueryError("rollup key \(c.key) is in none of the \(c.files.count) lineage files of \(c.source) in \(lineagePath)",
                                file: lineagePath)
    }

    /// The lineage directory, listed once: encoded source → file names in offset order.
    func listing() throws(LineageQueryError) -> [String: [String]] {
        if let l = filesBySource { return l }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: lineagePath) } catch {
            throw LineageQueryError("cannot list \(lineagePath): \(error.localizedDescription)", file: lineagePath)
        }
        var out: [String: [String]] = [:]
        for n in names.sorted() {
            // "<encoded source>.<20 digits>-<20 digits>.mlz"; temp files start with "." and are skipped.
            guard !n.hasPrefix("."), n.hasSuffix(".mlz"), n.utf8.count > Self.suffixLength else { continue }
            let u = Array(n.utf8)
            let s = u.count - Self.suffixLength
            guard u[s] == UInt8(ascii: "."), u[s + 21] == UInt8(ascii: "-"),
                  u[(s + 1)..<(s + 21)].allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  u[(s + 22)..<(s + 42)].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { continue }
            out[String(decoding: u[..<s], as: UTF8.self), default: []].append(n)
        }
        filesBySource = out
        return out
    }

    static let suffixLength = 1 + 20 + 1 + 20 + 4

    /// The source as it appears in file names (percent-encoded, possibly hashed), via the writer's own naming.
    static func encodedSource(_ source: String) -> String {
        let n = LineageWriter.fileName(source: source, firstOffset: 0, lastOffset: 0)
        return String(decoding: Array(n.utf8).dropLast(suffixLength), as: UTF8.self)
    }

    /// A lineage file, footer read on first use.
    func file(_ name: String) throws(LineageQueryError) -> LineageFile {
        if let f = openFiles[name] { return f }
        let path = lineagePath + "/" + name
        do {
            let f = try LineageFile(path: path)
            openFiles[name] = f
            return f
        } catch let e as LineageError {
            throw LineageQueryError(e.description, file: e.file)
        } catch {
            throw LineageQueryError("lineage file \(path): \(error)", file: path)
        }
    }

    // MARK: Indexes

    func groupKey(_ r: BillingRecord) -> String { "\(r.entity)|\(r.subject)|\(r.meter)|\(r.periodStart)" }

    /// The parse of every line of both files.
    struct FullIndex {
        var billing: [String: BillingRecord] = [:]
        var journalLines: [String: JournalLineRecord] = [:]
        /// (entity|subject|meter|periodStart) → billing ids (one per line, file order), for the cumulative rounding replay.
        var groupMembers: [String: [String]] = [:]
    }

    /// Parses every line of both files, once. On a malformed line, keeps what was parsed before it (for `billing` and
    /// `journalLines`) and throws that line's error, now and on every later call.
    @discardableResult
    func indexAll() throws(LineageQueryError) -> FullIndex {
        if let e = fullError { throw e }
        if let f = full { return f }
        var f = FullIndex()
        do throws(LineageQueryError) {
            for (n, d) in Self.lines(billingData) {
                let r = try parseBilling(d, n)
                f.billing[r.id] = r
                f.groupMembers[groupKey(r), default: []].append(r.id)
            }
            if let j = journalData {
                for (n, d) in Self.lines(j) {
                    for l in try parseJournal(d, n) { f.journalLines[l.lineId] = l }
                }
            }
        } catch {
            full = f
            fullError = error
            throw error
        }
        full = f
        return f
    }

    /// The full index when it was built without error.
    var completeIndex: FullIndex? { fullError == nil ? full : nil }

    /// The billing event `id` (its last line), parsing only that line when the file allows a byte scan.
    func billingRecord(_ id: String) throws(LineageQueryError) -> BillingRecord? {
        if let f = completeIndex { return f.billing[id] }
        if let cached = billingCache[id] { return cached }
        let index = try billingIndex()
        guard index.idsAtLineStart, LineIndex.isPlain(id) else { return try indexAll().billing[id] }
        var found: BillingRecord? = nil
        if let line = index.lastLine(withId: id) {
            let r = try parseBilling(billingData[index.starts[line]..<index.ends[line]], index.numbers[line])
            guard r.id == id else { return try indexAll().billing[id] } // a line whose "id" is not its first field
            found = r
        }
        billingCache[id] = .some(found)
        return found
    }

    /// The ids of the billing events of `r`'s rounding group (one per line, in file order), as the full index has them.
    func groupMemberIds(_ r: BillingRecord) throws(LineageQueryError) -> [String] {
        let gk = groupKey(r)
        if let f = completeIndex { return f.groupMembers[gk] ?? [] }
        if let cached = groupCache[gk] { return cached }
        let index = try billingIndex()
        let fields = [r.subject, r.entity, r.meter, r.periodStart]
        // With exactly 3 '|' in the key, a line has the same key only if it has the same four fields; in a file without
        // escapes or non-ASCII bytes, each of them then appears quoted in the line's bytes.
        guard index.plain, gk.utf8.reduce(0, { $0 + ($1 == UInt8(ascii: "|") ? 1 : 0) }) == 3, fields.allSatisfy(LineIndex.isPlain) else {
            return try indexAll().groupMembers[gk] ?? []
        }
        let needle = "\"" + r.subject + "\""
        if subjectLines[needle] == nil { subjectLines[needle] = index.lines(containing: [needle]) }
        var ids: [String] = []
        for line in index.filter(subjectLines[needle]!, containing: fields.dropFirst().map { "\"" + $0 + "\"" }) {
            let x = try parseBilling(billingData[index.starts[line]..<index.ends[line]], index.numbers[line])
            if groupKey(x) == gk { ids.append(x.id) }
        }
        groupCache[gk] = ids
        return ids
    }

    /// The journal line `id` (its last occurrence), parsing only the entries whose bytes hold `"id"` when possible.
    func journalLineRecord(_ id: String) throws(LineageQueryError) -> JournalLineRecord? {
        if let f = completeIndex { return f.journalLines[id] }
        if let cached = journalCache[id] { return cached }
        guard let data = journalData else { return nil }
        if journalLineIndex == nil { journalLineIndex = LineIndex(data, idsAtLineStart: false) }
        let index = journalLineIndex!
        guard index.plain, LineIndex.isPlain(id) else { return try indexAll().journalLines[id] }
        var found: JournalLineRecord? = nil
        for line in index.lines(containing: ["\"" + id + "\""]) {
            for l in try parseJournal(data[index.starts[line]..<index.ends[line]], index.numbers[line]) where l.lineId == id { found = l }
        }
        journalCache[id] = .some(found)
        return found
    }

    func billingIndex() throws(LineageQueryError) -> LineIndex {
        if let i = billingLines { return i }
        let i = LineIndex(billingData, idsAtLineStart: true)
        billingLines = i
        return i
    }

    /// Non-empty lines of `data` with their 1-based line numbers (counting empty lines).
    static func lines(_ data: Data) -> [(Int, Data)] {
        var out: [(Int, Data)] = []
        var n = 0
        var start = data.startIndex
        while start < data.endIndex {
            n += 1
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            if end > start { out.append((n, data[start..<end])) }
            start = end < data.endIndex ? data.index(after: end) : end
        }
        return out
    }

    static func object(_ d: Data, _ path: String, _ n: Int) throws(LineageQueryError) -> [String: Any] {
        guard let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else {
            throw LineageQueryError("\(path):\(n): not a JSON object", file: path)
        }
        return o
    }

    static func int128(_ v: Any?) -> Int128? {
        if let n = v as? NSNumber { return Int128(n.int64Value) }
        if let s = v as? String { return Int128(s) }
        return nil
    }

    /// One line of billing-events.jsonl (`n`: its line number).
    func parseBilling(_ d: Data, _ n: Int) throws(LineageQueryError) -> BillingRecord {
        let path = billingPath
        let o = try Self.object(d, path, n)
        func str(_ k: String) throws(LineageQueryError) -> String {
            guard let s = o[k] as? String else { throw LineageQueryError("\(path):\(n): missing \"\(k)\"", file: path) }
            return s
        }
        let quantityText = try str("quantity"), amountText = try str("amount"), deltaText = o["amountDelta"] as? String
        let quantity: Quantity, amount: Amount
        var delta: Amount? = nil
        do throws(DecimalError) {
            quantity = try Quantity(quantityText)
            amount = try Amount(amountText)
            if let t = deltaText { delta = try Amount(t) }
        } catch {
            throw LineageQueryError("\(path):\(n): \(error)", file: path)
        }
        let windowStart = try str("windowStart")
        let postedAt = (o["postedAt"] as? String) ?? windowStart
        guard let postedMicros = RFC3339.parseMicros(postedAt) else {
            throw LineageQueryError("\(path):\(n): bad postedAt \(postedAt)", file: path)
        }
        let dims = ((o["dimensions"] as? [String: Any]) ?? [:]).map { ($0.key, "\($0.value)") }.sorted { $0.0 < $1.0 }
        return BillingRecord(
            id: try str("id"), kind: try str("kind"), revision: (o["revision"] as? NSNumber)?.intValue ?? 0,
            subject: try str("subject"), entity: try str("entity"), meter: try str("meter"), dimensions: dims,
            windowStart: try str("windowStart"), windowEnd: try str("windowEnd"), periodStart: try str("periodStart"),
            postedAt: postedAt, postedAtMicros: postedMicros, quantity: quantity, amount: amount, amountDelta: delta,
            currency: try str("currency"), eventCount: (o["eventCount"] as? NSNumber)?.intValue ?? 0,
            lineage: (o["lineage"] as? [String]) ?? [], lineNumber: n)
    }

    /// One entry (line) of journal-entries.jsonl: its lines, in order.
    func parseJournal(_ d: Data, _ n: Int) throws(LineageQueryError) -> [JournalLineRecord] {
        let path = journalPath
        let o = try Self.object(d, path, n)
        guard let jid = o["journalId"] as? String, let lines = o["lines"] as? [[String: Any]] else {
            throw LineageQueryError("\(path):\(n): not a journal entry (journalId, lines)", file: path)
        }
        var out: [JournalLineRecord] = []
        for l in lines {
            guard let id = l["lineId"] as? String, let debit = Self.int128(l["debit"]), let credit = Self.int128(l["credit"]) else {
                throw LineageQueryError("\(path):\(n): journal line without lineId, debit or credit", file: path)
            }
            out.append(JournalLineRecord(
                journalId: jid, entity: (o["entity"] as? String) ?? "", currency: (o["currency"] as? String) ?? "",
                postingDate: (o["postingDate"] as? String) ?? "", period: (o["period"] as? String) ?? "",
                lineId: id, account: (l["account"] as? String) ?? "", subject: l["subject"] as? String,
                debit: debit, credit: credit, memo: (l["memo"] as? String) ?? "",
                billingEvents: (l["billingEvents"] as? [String]) ?? [], lineNumber: n))
        }
        return out
    }
}
