import MeterlineCore

// Owns: the state changelog of one input partition (DESIGN.md §10): at each checkpoint, the records that bring
// a reader of the `state` topic from the previous checkpoint's state to this one, and the restore from the last
// value of every key. Records are keyed, so a compacted topic keeps exactly what a restore needs.
// Never imports the Kafka module: the engine maps records to messages.
//
// Records of a partition (keys relative to the partition's prefix; values end in an 8-byte checksum):
// - `ids/<day>/<seq>.<part>`: ids the dedup table accepted in changelog `seq` whose event day is `day`, sorted.
//   Written once; a tombstone when an expiry passes `day` (the table forgets those ids in the same step).
// - `win/<seq>.<part>`: windows and periods changed in `seq` (the value after the change), and the keys of
//   those removed. When the deltas since the last base outgrow it (`rebaseMinBytes`), a base holding every window
//   and period replaces them, and the earlier `win/` records get tombstones: what is kept stays within about
//   twice the live state (`changelogRebaseMinBytes` at least).
// - `meta`: offsets, watermark, counters, the dedup table's base day and count, and the key, length and checksum of
//   every live record. It is written after the records it lists and before the tombstones, so a reader never
//   follows a listed key to a missing value, and a torn write of a later checkpoint leaves the earlier meta whole.

/// One record of a partition's state changelog. Invariant: `value` is nil (a tombstone) exactly when the key
/// is no longer part of the partition's state; `droppedLength` is then the length of the value it ends.
public struct StateRecord: Sendable, Equatable {
    /// Key relative to the partition's prefix (`meta`, `ids/…`, `win/…`).
    public var key: String
    public var value: [UInt8]?
    public var droppedLength: Int = 0

    public init(key: String, value: [UInt8]?, droppedLength: Int = 0) {
        self.key = key
        self.value = value
        self.droppedLength = droppedLength
    }
}

/// An id the dedup table accepted, with its event day, waiting for the next changelog.
struct LoggedId {
    var identity: Hash128
    var day: Int32
}

/// What changed in a partition since its last changelog. Recorded only while `PartitionState.trackChanges`.
struct PartitionChanges {
    var newIds: [LoggedId] = []
    /// Windows and periods changed or removed (a removed key is absent from its table when the changelog is taken).
    var windows: Set<RollupKey> = []
    var periods: Set<ScopeKey> = []
    /// Keys whose records are dead: tombstones for the next changelog.
    var dropped: [(key: String, length: Int)] = []
}

/// A record the partition's state still needs.
struct LiveRecord: Equatable {
    var key: String
    /// Event day of an `ids/` record (0 for `win/`).
    var day: Int32
    var length: Int
    var checksum: UInt64
}

/// Which records make up a partition's state, as the last `meta` listed them.
struct ChangelogIndex {
    /// The partition's changelog sequence (restored from `meta`, so keys never repeat across restarts).
    var sequence = 0
    var ids: [LiveRecord] = []
    /// The last base first, then the deltas after it, in sequence order.
    var windows: [LiveRecord] = []
    var baseBytes = 0
    var bytesSinceBase = 0
    /// `(nextOffset, input + outOfRange, maxEventTime)` at the last `meta`: a partition with no change writes nothing.
    var position: (Int64, Int, Int64) = (-1, -1, .min)
}

extension PartitionState {
    /// Copies the lineage key texts of the windows touched since the last call (`LineageColumns.resolveKeys`),
    /// noting those windows as changed for the changelog: every window the accept path changes registers there.
    mutating func resolveLineageKeys() {
        if trackChanges {
            for slot in lineage.pendingKeySlots { changes.windows.insert(windows.keys[Int(slot)]) }
        }
        lineage.resolveKeys(&windows)
    }

    /// After the dedup table forgot the ids of days before `day`: their records and pending ids go too.
    mutating func dropIds(before day: Int32) {
        changes.newIds.removeAll { $0.day < day }
        let (dead, live) = (changelog.ids.filter { $0.day < day }, changelog.ids.filter { $0.day >= day })
        changes.dropped += dead.map { ($0.key, $0.length) }
        changelog.ids = live
    }
}

extension Pipeline {
    static let metaMagic: [UInt8] = Array("MLPM".utf8)
    static let idsMagic: [UInt8] = Array("MLPI".utf8)
    static let windowsMagic: [UInt8] = Array("MLPW".utf8)
    static let changelogVersion: UInt8 = 1

    /// The changelog records of one partition since its last call, in the order they must be written (records,
    /// then `meta`, then tombstones); empty when nothing changed. Call right after `checkpoint()` moved the outputs.
    /// Deterministic: the same input gives the same records.
    func changelog(_ s: Int) -> [StateRecord] {
        precondition(states[s].trackChanges, "changelog of a partition that does not record its changes")
        let position = (states[s].nextOffset, states[s].counters.input + states[s].counters.outOfRange, states[s].maxEventTime)
        let c = states[s].changes
        if c.newIds.isEmpty && c.windows.isEmpty && c.periods.isEmpty && c.dropped.isEmpty && position == states[s].changelog.position {
            return []
        }
        states[s].changelog.sequence += 1
        let seq = states[s].changelog.sequence
        var records: [StateRecord] = []
        // Ids by day, sorted: the bytes depend only on what was accepted.
        let ids = c.newIds.sorted { ($0.day, $0.identity) < ($1.day, $1.identity) }
        let idsPerRecord = max(1, changelogRecordBytes / 16)
        var i = 0
        var part = [Int32: Int]()
        while i < ids.count {
            let day = ids[i].day
            var j = i
            while j < ids.count && ids[j].day == day && j - i < idsPerRecord { j += 1 }
            var w = header(Pipeline.idsMagic, s, seq)
            w.int(Int64(day)); w.varint(UInt64(j - i))
            for k in i..<j {
                Pipeline.appendLE(ids[k].identity.high, to: &w.bytes); Pipeline.appendLE(ids[k].identity.low, to: &w.bytes)
            }
            let n = part[day, default: 0]
            part[day] = n + 1
            let r = sealed("ids/\(day)/\(seq).\(n)", w, day: day)
            states[s].changelog.ids.append(r.live)
            records.append(r.record)
            i = j
        }
        records += windowRecords(s, seq)
        // The meta record, listing every live record.
        let st = states[s]
        var m = header(Pipeline.metaMagic, s, seq)
        m.string(st.sourceName)
        m.int(st.firstOffset); m.int(st.lastOffset); m.int(st.nextOffset); m.int(st.maxEventTime)
        writeCounters(st.counters, to: &m)
        m.int(Int64(st.seen.baseDay)); m.varint(UInt64(st.seen.count))
        m.varint(UInt64(st.changelog.baseBytes)); m.varint(UInt64(st.changelog.bytesSinceBase))
        for list in [st.changelog.ids, st.changelog.windows] {
            m.varint(UInt64(list.count))
            for r in list { m.string(r.key); m.int(Int64(r.day)); m.varint(UInt64(r.length)); Pipeline.appendLE(r.checksum, to: &m.bytes) }
        }
        records.append(sealed("meta", m, day: 0).record)
        records += states[s].changes.dropped.map { StateRecord(key: $0.key, value: nil, droppedLength: $0.length) }
        states[s].changelog.position = position
        states[s].changes = PartitionChanges()
        return records
    }

    /// The `win/` records of changelog `seq`: a delta of the changed windows and periods, or a base of all of them.
    private func windowRecords(_ s: Int, _ seq: Int) -> [StateRecord] {
        let c = states[s].changes
        let log = states[s].changelog
        let base = log.windows.isEmpty || log.bytesSinceBase > max(log.baseBytes, changelogRebaseMinBytes)
        guard base || !c.windows.isEmpty || !c.periods.isEmpty else { return [] }
        var windows: [(RollupKey, WindowState)] = [], goneWindows: [RollupKey] = []
        var periods: [(ScopeKey, PeriodState)] = [], gonePeriods: [ScopeKey] = []
        if base {
            windows = states[s].windows.entries.map { ($0.key, $0.value) }
            periods = states[s].periods.entries.map { ($0.key, $0.value) }
        } else {
            for k in c.windows {
                if let slot = states[s].windows.slot(forKey: k) { windows.append((k, states[s].windows.values[slot])) } else { goneWindows.append(k) }
            }
            for k in c.periods {
                if let slot = states[s].periods.slot(forKey: k) { periods.append((k, states[s].periods.values[slot])) } else { gonePeriods.append(k) }
            }
        }
        // Canonical order (sets and slots have none): windows by key text, periods as the snapshot orders them,
        // removed keys by their fields.
        windows.sort { KeyText.less($0.1.keyText, $1.1.keyText) }
        periods.sort { ($0.1.subject, $0.0.meter, $0.0.discriminator, $0.0.periodStart) < ($1.1.subject, $1.0.meter, $1.0.discriminator, $1.0.periodStart) }
        goneWindows.sort { ($0.subject, $0.meter, $0.dimensions, $0.windowStart) < ($1.subject, $1.meter, $1.dimensions, $1.windowStart) }
        gonePeriods.sort { ($0.subject, $0.meter, $0.discriminator, $0.periodStart) < ($1.subject, $1.meter, $1.discriminator, $1.periodStart) }
        // Entries are cut into records of about `changelogRecordBytes` (an entry larger than that gets a record of its own).
        let budget = changelogRecordBytes
        var out: [(record: StateRecord, live: LiveRecord)] = []
        var w = StateWriter(), entries = 0
        var lists: (windows: Int, goneWindows: Int, periods: Int, gonePeriods: Int) = (0, 0, 0, 0)
        func flush(_ last: Bool) {
            guard entries > 0 || (last && out.isEmpty) else { return }
            var r = header(Pipeline.windowsMagic, s, seq)
            r.bool(base)
            for n in [lists.windows, lists.goneWindows, lists.periods, lists.gonePeriods] { r.varint(UInt64(n)) }
            r.bytes += w.bytes
            out.append(sealed("win/\(seq).\(out.count)", r, day: 0))
            w = StateWriter(); entries = 0; lists = (0, 0, 0, 0)
        }
        // Each entry starts with its kind (0 window, 1 removed window, 2 period, 3 removed period).
        for (k, v) in windows { w.u8(0); writeWindow(k, v, to: &w); lists.windows += 1; entries += 1; if w.bytes.count >= budget { flush(false) } }
        for k in goneWindows { w.u8(1); writeWindowKey(k, to: &w); lists.goneWindows += 1; entries += 1; if w.bytes.count >= budget { flush(false) } }
        for (k, p) in periods { w.u8(2); writePeriod(k, p, to: &w); lists.periods += 1; entries += 1; if w.bytes.count >= budget { flush(false) } }
        for k in gonePeriods { w.u8(3); writePeriodKey(k, to: &w); lists.gonePeriods += 1; entries += 1; if w.bytes.count >= budget { flush(false) } }
        flush(true)
        let bytes = out.reduce(0) { $0 + $1.live.length }
        if base {
            states[s].changes.dropped += log.windows.map { ($0.key, $0.length) }
            states[s].changelog.windows = out.map(\.live)
            states[s].changelog.baseBytes = bytes
            states[s].changelog.bytesSinceBase = 0
        } else {
            states[s].changelog.windows += out.map(\.live)
            states[s].changelog.bytesSinceBase += bytes
        }
        return out.map(\.record)
    }

    private func header(_ magic: [UInt8], _ s: Int, _ seq: Int) -> StateWriter {
        var w = StateWriter()
        w.bytes += magic
        w.u8(Pipeline.changelogVersion)
        w.int(Int64(states[s].partition)); w.varint(UInt64(seq))
        return w
    }

    /// Appends the checksum (64 bits of `Hasher128` over the value) and lists the record.
    private func sealed(_ key: String, _ w: StateWriter, day: Int32) -> (record: StateRecord, live: LiveRecord) {
        var bytes = w.bytes
        let sum = Pipeline.checksum(bytes[...])
        Pipeline.appendLE(sum, to: &bytes)
        return (StateRecord(key: key, value: bytes), LiveRecord(key: key, day: day, length: bytes.count, checksum: sum))
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h = Hasher128()
        bytes.withUnsafeBytes { h.combine($0) }
        return h.finalize().low
    }

    static func appendLE(_ v: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Replaces (or creates) a partition's state from its changelog: the last value of every key under the
    /// partition's prefix (tombstoned keys absent). Every record `meta` lists must be present with its length and
    /// checksum, else a `StateError` names it; keys `meta` does not list (left by a write torn between `meta` and
    /// its tombstones) get tombstones in the next changelog. Meters and contracts are matched by slug and subject.
    public func restore(partition: Int32, changelog records: [String: [UInt8]]) throws(StateError) {
        guard let meta = records["meta"] else { throw StateError("partition \(partition): no meta record") }
        var r = try open(meta, Pipeline.metaMagic, "meta", partition: partition)
        let seq = Int(try r.varint())
        var st = PartitionState(partition: partition, sourceName: try r.string(), allowedLateness: config.settings.allowedLatenessMicros)
        st.trackChanges = includeState
        st.firstOffset = try r.int(); st.lastOffset = try r.int(); st.nextOffset = try r.int(); st.maxEventTime = try r.int()
        st.counters = try readCounters(&r)
        let baseDay = Int32(truncatingIfNeeded: try r.int()), idCount = Int(clamping: try r.varint())
        st.changelog.sequence = seq
        st.changelog.baseBytes = Int(try r.varint()); st.changelog.bytesSinceBase = Int(try r.varint())
        var lists: [[LiveRecord]] = []
        for what in ["ids records", "window records"] {
            var list: [LiveRecord] = []
            for _ in 0..<(try r.count(what)) {
                let key = try r.string(), day = Int32(truncatingIfNeeded: try r.int()), length = Int(try r.varint())
                list.append(LiveRecord(key: key, day: day, length: length, checksum: try r.le64()))
            }
            lists.append(list)
        }
        guard r.pos == meta.count - 8 else { throw StateError("meta: content length mismatch") }
        (st.changelog.ids, st.changelog.windows) = (lists[0], lists[1])
        st.changelog.position = (st.nextOffset, st.counters.input + st.counters.outOfRange, st.maxEventTime)
        st.seen = DedupTable(restoring: idCount, baseDay: baseDay)
        for live in st.changelog.ids {
            var r = try open(listed: live, records, Pipeline.idsMagic, partition: partition)
            _ = try r.varint()
            let day = Int32(truncatingIfNeeded: try r.int())
            guard day == live.day else { throw StateError("\(live.key): day \(day), listed as \(live.day)") }
            for _ in 0..<(try r.count("ids")) {
                let k = Hash128(high: try r.le64(), low: try r.le64())
                do throws(StateError) { try st.seen.restore(k, day: day) } catch { throw StateError("\(live.key): \(error.message)") }
            }
            guard r.pos == live.length - 8 else { throw StateError("\(live.key): content length mismatch") }
        }
        guard st.seen.count == idCount else { throw StateError("meta lists \(idCount) ids, the records hold \(st.seen.count)") }
        // The base's parts come first, then the deltas after it.
        var inBase = true
        for live in st.changelog.windows {
            var r = try open(listed: live, records, Pipeline.windowsMagic, partition: partition)
            _ = try r.varint()
            let base = try r.bool()
            if base != inBase && (base || live == st.changelog.windows[0]) { throw StateError("\(live.key): window records do not start with one base") }
            inBase = base
            var counts = [0, 0, 0, 0]
            for i in 0..<4 { counts[i] = try r.count("entries") }
            var seen = [0, 0, 0, 0]
            while r.pos < live.length - 8 {
                let kind = Int(try r.u8())
                guard kind < 4 else { throw StateError("\(live.key): unknown entry kind \(kind)") }
                seen[kind] += 1
                switch kind {
                case 0: let (k, w) = try readWindow(&r); st.windows[k] = w
                case 1: st.windows[try readWindowKey(&r)] = nil
                case 2: let (k, p) = try readPeriod(&r); st.periods[k] = p
                default: st.periods[try readPeriodKey(&r)] = nil
                }
            }
            guard r.pos == live.length - 8, seen == counts else { throw StateError("\(live.key): content length mismatch") }
        }
        try st.rebuildDerived()
        let listed = Set(st.changelog.ids.map(\.key) + st.changelog.windows.map(\.key) + ["meta"])
        st.changes.dropped = records.filter { !listed.contains($0.key) }.map { ($0.key, $0.value.count) }.sorted { $0.key < $1.key }
        install(st)
    }

    /// The partition and max event time a `meta` record states (checked like a restore checks it), for a reader
    /// that follows the partitions' watermarks without restoring them (the journal writer). Nil if not a valid meta.
    public static func metaProgress(_ bytes: [UInt8]) -> (partition: Int32, maxEventTime: Int64)? {
        guard bytes.count >= 14, Array(bytes[0..<4]) == metaMagic,
              StateReader.le64(bytes, bytes.count - 8) == checksum(bytes[..<(bytes.count - 8)]) else { return nil }
        var r = StateReader(bytes)
        r.pos = 4
        do throws(StateError) {
            guard try r.u8() == changelogVersion else { return nil }
            let partition = Int32(truncatingIfNeeded: try r.int())
            _ = try r.varint(); _ = try r.string()
            _ = try r.int(); _ = try r.int(); _ = try r.int()
            return (partition, try r.int())
        } catch { return nil }
    }

    /// Checks magic, version, partition and trailing checksum of a value; returns a reader after its header.
    private func open(_ bytes: [UInt8], _ magic: [UInt8], _ key: String, partition: Int32) throws(StateError) -> StateReader {
        guard bytes.count >= 14, Array(bytes[0..<4]) == magic else { throw StateError("\(key): not a changelog record of this kind (bad magic)") }
        var tail = StateReader(bytes)
        tail.pos = bytes.count - 8
        guard try tail.le64() == Pipeline.checksum(bytes[..<(bytes.count - 8)]) else { throw StateError("\(key): checksum mismatch") }
        var r = StateReader(bytes)
        r.pos = 4
        guard try r.u8() == Pipeline.changelogVersion else { throw StateError("\(key): unsupported changelog version") }
        guard Int32(truncatingIfNeeded: try r.int()) == partition else { throw StateError("\(key): a record of another partition") }
        return r
    }

    /// A listed record, checked against the length and checksum `meta` gives for it.
    private func open(listed live: LiveRecord, _ records: [String: [UInt8]], _ magic: [UInt8], partition: Int32) throws(StateError) -> StateReader {
        guard let bytes = records[live.key] else {
            throw StateError("\(live.key): listed by meta but missing (was it dropped by retention instead of compaction?)")
        }
        guard bytes.count == live.length, bytes.count >= 8, StateReader.le64(bytes, bytes.count - 8) == live.checksum else {
            throw StateError("\(live.key): not the value meta lists (\(bytes.count) bytes, listed \(live.length))")
        }
        return try open(bytes, magic, live.key, partition: partition)
    }

    /// Forgets partitions and everything they hold, un-checkpointed outputs included: a revoked partition's state
    /// lives on in its changelog, from which its next owner restores it.
    public func drop(partitions: Set<Int32>) {
        guard states.contains(where: { partitions.contains($0.partition) }) else { return }
        states.removeAll { partitions.contains($0.partition) }
        slots = Dictionary(uniqueKeysWithValues: states.enumerated().map { ($1.partition, $0) })
        lastSlot = nil
    }

    /// Makes `st` the state of its partition (replacing any).
    func install(_ st: PartitionState) {
        if let s = slots[st.partition] { states[s] = st } else { slots[st.partition] = states.count; states.append(st) }
    }
}
