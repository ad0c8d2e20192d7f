import CPrefetch
import MeterlineCore

// Owns: batch processing with look-ahead. A partition's dedup table and windows are far larger than the CPU
// caches, so each accepted event costs a few cache misses; parsing events ahead of their acceptance and
// prefetching their table lines in groups overlaps those misses (and their page walks) with useful work.

/// One message of a batch: its input position and where its bytes lie in the batch buffer.
/// Invariant: `start..<start+count` (and the key's range when `keyCount >= 0`) lie inside the batch buffer;
/// `binary` is −1 or an index into the batch's `BatchBinary` table.
public struct BatchRecord: Sendable {
    public var partition: Int32
    public var offset: Int64
    public var start: Int32
    public var count: Int32
    /// The Kafka key (checked against `subject`): `keyStart..<keyStart+keyCount`; `keyCount` −1 when there is none.
    public var keyStart: Int32 = 0
    public var keyCount: Int32 = -1
    /// CloudEvents binary mode (`ce_*` headers): the index of its attributes in the batch's binary table, else −1.
    public var binary: Int32 = -1
    /// The router's `EventParser.canonicalHead` of the value, when it found one: the parse starts after the subject.
    public var head: CanonicalHead? = nil
    public init(partition: Int32, offset: Int64, start: Int32, count: Int32) {
        self.partition = partition; self.offset = offset; self.start = start; self.count = count
    }
}

/// The binary-mode attributes of one batch message, as ranges of the batch buffer (`count` −1: header absent).
public struct BatchBinary: Sendable {
    public var ranges: (specversion: (Int32, Int32), id: (Int32, Int32), source: (Int32, Int32), type: (Int32, Int32),
                        subject: (Int32, Int32), time: (Int32, Int32))
    public init(specversion: (Int32, Int32), id: (Int32, Int32), source: (Int32, Int32), type: (Int32, Int32),
                subject: (Int32, Int32), time: (Int32, Int32)) {
        ranges = (specversion, id, source, type, subject, time)
    }
}

/// A message waiting for acceptance: parsed (its event and readings are in `Pipeline.aheadEvents` and
/// `aheadReadings`, raw buffers, so completing it copies no 200-byte struct) or rejected by the parser (its
/// rejection is in `Pipeline.aheadRejections`). Plain values, kept in a raw buffer: no uniqueness check per write.
struct LookaheadEntry {
    var parsed = false
    var readingCount = 0
}

extension Pipeline {
    /// Events parsed ahead of the one being accepted.
    static let lookahead = 16
    /// Table prefetches are issued for this many parsed events at a time, back to back (a divisor of `lookahead`).
    ///
    /// A prefetch into a table of hundreds of MB misses the TLB, and on this VM (nested paging) it does not
    /// retire until its page walk is done: one prefetch per event stalled the shard for a whole walk each time
    /// (~140 ns, ~20 % of a shard). Issued in a group, the walks overlap and the group stalls about once.
    static let prefetchGroup = 8

    /// Processes messages in order, with the same outputs, counters and state as calling
    /// `process(partition:offset:value:key:binary:nowMicros:)` for each. Each structured-mode event is parsed
    /// `lookahead` messages before it is accepted (parsing changes no partition state). After every
    /// `prefetchGroup` parses, the group's dedup slots and window index entries are prefetched together; half a
    /// look-ahead later, the group's window keys and values.
    /// A binary-mode message (`binary` ≥ 0, attributes in `binaries`) is parsed when its turn comes: its parse
    /// fills the parser's scratch buffer, which must not be overwritten before it is accepted.
    public func process(batch bytes: UnsafeRawBufferPointer, records: UnsafeBufferPointer<BatchRecord>,
                        binaries: UnsafeBufferPointer<BatchBinary> = UnsafeBufferPointer(start: nil, count: 0), nowMicros: Int64) {
        let n = records.count
        let d = Pipeline.lookahead
        let g = Pipeline.prefetchGroup
        var j = 0
        while j < n + d {
            // Entry j % d holds event j − d: accept it before event j is parsed into its place.
            if j >= d { complete(records[j - d], bytes, binaries, entry: (j - d) % d, nowMicros: nowMicros) }
            if j < n && records[j].binary >= 0 {
                ahead[j % d].parsed = false  // parsed by `complete`, in its turn
            } else if j < n {
                // The input bytes of the event parsed `inputLead` messages later: their first touch was a cache
                // miss at the start of every parse (the hardware prefetcher loses the stream among the tables' misses).
                if j + Pipeline.inputLead < n { prefetchInput(bytes, records[j + Pipeline.inputLead]) }
                let r = records[j]
                // A partition's state is created at its first parse, as before look-ahead groups (slot order is kept).
                _ = slot(r.partition)
                let k = j % d
                do throws(Rejection) {
                    aheadEvents[k] = try parser.parse(value(bytes, r), nowMicros: nowMicros, head: r.head)
                    let count = parser.readingCount
                    precondition(count <= meterCount, "more readings than meters")
                    parser.withReadings { source in
                        guard let from = source.baseAddress, count > 0 else { return }
                        let to = aheadReadings.baseAddress!.advanced(by: k * meterCount)
                        // One reading (the usual case) as one 64-byte value copy, not a `memcpy` call.
                        if count == 1 { to.initialize(to: from.pointee) } else { to.initialize(from: from, count: count) }
                    }
                    ahead[k].parsed = true
                    ahead[k].readingCount = count
                    // The first reading's window key, computed once: prefetched with its group, looked up at acceptance.
                    aheadKeys[k] = firstRollupKey(subject: aheadEvents[k].subjectHash, time: aheadEvents[k].timeMicros, readings(k))
                } catch {
                    aheadRejections[k] = error
                }
            }
            if j < n && (j % g == g - 1 || j == n - 1) {
                // The addresses first, then the prefetches back to back: their walks overlap only if they are all
                // in flight at once (the address work between them would fill the reorder buffer first).
                var list = PrefetchList(groupAddresses)
                for i in (j - j % g)...j where ahead[i % d].parsed {
                    let s = slot(records[i].partition)
                    list.add(states[s].seen.homeAddress(aheadEvents[i % d].identity))
                    if let key = aheadKeys[i % d] { list.add(states[s].windows.indexAddress(key)) }
                }
                list.issue()
            }
            let mid = j - d / 2
            if mid >= 0 && mid < n && (mid % g == g - 1 || mid == n - 1) {
                var list = PrefetchList(groupAddresses)
                for i in (mid - mid % g)...mid where ahead[i % d].parsed {
                    if let key = aheadKeys[i % d], let a = states[slot(records[i].partition)].windows.slotAddresses(of: key) {
                        // A key or a value's first 64 bytes may straddle two cache lines: both are fetched.
                        list.add(a.key, spanning: MemoryLayout<RollupKey>.size)
                        list.add(a.value, spanning: SlotTable<RollupKey, WindowState>.prefetchedValueBytes)
                    }
                }
                list.issue()
            }
            j += 1
        }
    }

    /// Room for one group's prefetch addresses, at most four per event: a dedup slot and a window index entry in the
    /// first list; a window key and value, two lines each, in the second.
    static let groupAddressCapacity = 4 * prefetchGroup

    /// How many messages ahead of the parse its input bytes are prefetched.
    static let inputLead = 8

    /// Prefetches every cache line of a message's bytes (a hint; reads nothing).
    @inline(__always)
    func prefetchInput(_ bytes: UnsafeRawBufferPointer, _ r: BatchRecord) {
        guard let base = bytes.baseAddress else { return }
        var p = Int(r.start)
        let end = p + Int(r.count)
        while p < end { meterline_prefetch(base + p); p += 64 }
    }

    @inline(__always)
    func value(_ bytes: UnsafeRawBufferPointer, _ r: BatchRecord) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(r.start)..<Int(r.start) + Int(r.count)])
    }

    /// The readings of look-ahead entry `k`.
    @inline(__always)
    func readings(_ k: Int) -> UnsafeBufferPointer<MeterReading> {
        UnsafeBufferPointer(start: aheadReadings.baseAddress! + k * meterCount, count: ahead[k].readingCount)
    }

    /// The window key of an event's first reading (the window `accept` looks up first).
    @inline(__always)
    func firstRollupKey(subject: Hash128, time: Int64, _ readings: UnsafeBufferPointer<MeterReading>) -> RollupKey? {
        guard let r0 = readings.first else { return nil }
        return RollupKey(subject: subject, meter: Int32(r0.meterIndex), dimensions: r0.dimensionsHash,
                         windowStart: firstKeyFloor.floor(time, rules.meterWindowMicros[r0.meterIndex]))
    }

    /// The part of `process` after the parse, for a look-ahead entry (a binary-mode message is processed whole here).
    func complete(_ r: BatchRecord, _ bytes: UnsafeRawBufferPointer, _ binaries: UnsafeBufferPointer<BatchBinary>, entry k: Int, nowMicros: Int64) {
        let key = r.keyCount >= 0 ? UnsafeRawBufferPointer(rebasing: bytes[Int(r.keyStart)..<Int(r.keyStart) + Int(r.keyCount)]) : nil
        if r.binary >= 0 {
            let b = binaries[Int(r.binary)].ranges
            func range(_ x: (Int32, Int32)) -> UnsafeRawBufferPointer? {
                x.1 < 0 ? nil : UnsafeRawBufferPointer(rebasing: bytes[Int(x.0)..<Int(x.0) + Int(x.1)])
            }
            let attributes = BinaryAttributes(specversion: range(b.specversion), id: range(b.id), source: range(b.source),
                                              type: range(b.type), subject: range(b.subject), time: range(b.time))
            process(partition: r.partition, offset: r.offset, value: value(bytes, r), key: key, binary: attributes, nowMicros: nowMicros)
            return
        }
        let s = begin(partition: r.partition, offset: r.offset)
        let v = value(bytes, r)
        if ahead[k].parsed {
            do throws(Rejection) {
                try accept(s, aheadEvents[k], v, key: key, offset: r.offset, readings: readings(k), firstKey: .some(aheadKeys[k]),
                           prefetched: true)
            } catch {
                reject(s, offset: r.offset, error, payload: v)
            }
            ahead[k].parsed = false
        } else {
            reject(s, offset: r.offset, aheadRejections[k]!, payload: v)
            aheadRejections[k] = nil
        }
        assert(states[s].counters.balanced)
    }
}

/// Prefetch addresses collected for one group, then issued back to back (see `Pipeline.prefetchGroup`).
/// Invariant: holds at most `Pipeline.groupAddressCapacity` addresses, in the buffer it was made with.
struct PrefetchList {
    let buffer: UnsafeMutablePointer<UnsafeRawPointer>
    var count = 0

    @inline(__always) init(_ buffer: UnsafeMutablePointer<UnsafeRawPointer>) { self.buffer = buffer }

    @inline(__always)
    mutating func add(_ p: UnsafeRawPointer) {
        precondition(count < Pipeline.groupAddressCapacity, "more prefetches than a group holds")
        buffer[count] = p
        count &+= 1
    }

    /// The line(s) of `bytes` bytes at `p`: two when they straddle a line boundary.
    @inline(__always)
    mutating func add(_ p: UnsafeRawPointer, spanning bytes: Int) {
        add(p)
        add(p + (bytes - 1))
    }

    @inline(__always)
    func issue() {
        for i in 0..<count { meterline_prefetch(buffer[i]) }
    }
}
