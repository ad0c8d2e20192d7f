import Foundation
import MeterlineCore
@testable import MeterlinePipeline
import Testing

/// The seed of a randomized test: `MeterlineTestSeed` from the environment to replay a failure, else fresh.
/// Every failure message carries it.
func testSeed() -> UInt64 {
    if let s = ProcessInfo.processInfo.environment["MeterlineTestSeed"], let v = UInt64(s) { return v }
    return UInt64.random(in: 0...UInt64.max)
}

func randomKey(_ g: inout SeededGenerator) -> Hash128 {
    Hash128(high: g.next(), low: g.next())
}

/// `insert` outside the `#expect` macro, which cannot call mutating methods.
func inserted(_ t: inout DedupTable, _ k: Hash128, day: Int32) -> Bool { t.insert(k, day: day) }

@Suite struct DedupTableTests {
    /// A probe starts at the first slot of a cache line of the key array, for every slot count (not only multiples of 4).
    @Test func homesAreLineStarts() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        for slots in [16, 17, 18, 19, 1_001, 13_333_334] {
            let t = DedupTable(expectedCount: Int(Double(slots - 1) * 0.75))
            #expect(Int(bitPattern: UInt(bitPattern: t.storage.slots)) % 64 == 0, "key array not line-aligned")
            for _ in 0..<10_000 {
                let h = DedupTable.home(g.next(), slots)
                #expect(h % DedupTable.slotsPerLine == 0 && h >= 0 && h + DedupTable.slotsPerLine <= slots,
                        "seed \(seed): home \(h) of \(slots) slots")
            }
            #expect(DedupTable.home(.max, slots) + DedupTable.slotsPerLine <= slots)
        }
    }

    @Test func exactOverOneMillionRandomKeys() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var t = DedupTable(expectedCount: 16)  // grows many times on the way
        var keys: [Hash128] = []
        keys.reserveCapacity(1_000_000)
        for _ in 0..<1_000_000 { keys.append(randomKey(&g)) }
        var firstFailure: String?
        for (n, k) in keys.enumerated() where !t.insert(k, day: 20_000 + Int32(n % 30)) {
            firstFailure = firstFailure ?? "insert #\(n) \(k) reported present"
        }
        #expect(firstFailure == nil, "seed \(seed): \(firstFailure ?? "")")
        #expect(t.count == keys.count, "seed \(seed)")
        #expect(t.verifyInvariants(), "seed \(seed)")
        // Present: every inserted key; re-inserting is refused.
        let missing = keys.filter { !t.contains($0) }.count
        #expect(missing == 0, "seed \(seed): \(missing) inserted keys not found")
        let reinserted = keys.prefix(10_000).filter { t.insert($0, day: 20_000) }.count
        #expect(reinserted == 0, "seed \(seed)")
        // Absent: fresh random keys, and keys one bit away from an inserted key (each of the 128 bits).
        var falsePositives = 0
        for _ in 0..<1_000_000 where t.contains(randomKey(&g)) { falsePositives += 1 }
        for k in keys.prefix(4_000) {
            for b in 0..<64 {
                if t.contains(Hash128(high: k.high ^ (1 << b), low: k.low)) { falsePositives += 1 }
                if t.contains(Hash128(high: k.high, low: k.low ^ (1 << b))) { falsePositives += 1 }
            }
        }
        #expect(falsePositives == 0, "seed \(seed): \(falsePositives) false positives")
        #expect(t.count == keys.count, "seed \(seed)")
    }

    /// `probe` + `insert(_:day:at:)` (the accept path) against `contains` + `insert`: the same answers and the same
    /// table, byte for byte, through growth, rebases (days jumping past 255), expiries, repeats and the zero key.
    @Test func probeThenInsertIsInsert() throws {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var a = DedupTable(expectedCount: 8), b = DedupTable(expectedCount: 8)
        var recent: [Hash128] = []
        var day: Int32 = 20_000
        for n in 0..<60_000 {
            let roll = g.next() % 100
            let k = roll < 10 && !recent.isEmpty ? recent[Int(g.next() % UInt64(recent.count))] : roll == 10 ? .zero : randomKey(&g)
            if roll == 11 { day += Int32(g.next() % 300) }      // sometimes far ahead: a rebase
            let d = day - Int32(g.next() % 40)                     // and out of order
            let p = a.probe(k)
            let found = b.contains(k)
            #expect(p.found == found, "seed \(seed), step \(n)")
            let insertedA = p.found ? false : a.insert(k, day: d, at: p)
            let insertedB = b.insert(k, day: d)
            #expect(insertedA == insertedB, "seed \(seed), step \(n)")
            if recent.count < 1_000 { recent.append(k) } else { recent[Int(g.next() % 1_000)] = k }
            if n % 7_000 == 6_999 { a.expire(before: day - 20); b.expire(before: day - 20) }
        }
        #expect(a.count == b.count && a.verifyInvariants(), "seed \(seed)")
        // As `Data`: a failing `#expect` on two ~1 MB `[UInt8]` would spend minutes diffing them.
        #expect(Data(a.serialize()) == Data(b.serialize()), "seed \(seed): the tables differ")
    }

    @Test func sameHomeSlotDifferentLowWordsAndTheReservedKey() {
        var t = DedupTable(expectedCount: 4)
        // One `high` for all: one home slot, one long cluster; only `low` tells them apart.
        for i in 1...2_000 { #expect(inserted(&t, Hash128(high: 42, low: UInt64(i)), day: 1)) }
        for i in 1...2_000 { #expect(t.contains(Hash128(high: 42, low: UInt64(i)))) }
        #expect(!t.contains(Hash128(high: 42, low: 2_001)))
        #expect(!t.contains(Hash128(high: 43, low: 1)))
        // Keys with one zero word are ordinary keys.
        #expect(!t.contains(Hash128(high: 0, low: 7)))
        #expect(inserted(&t, Hash128(high: 0, low: 7), day: 1))
        #expect(inserted(&t, Hash128(high: 7, low: 0), day: 1))
        #expect(t.contains(Hash128(high: 0, low: 7)) && t.contains(Hash128(high: 7, low: 0)))
        // The all-zero key marks empty slots; it is still an exact member, kept in a side flag.
        #expect(!t.contains(.zero))
        let before = t.count
        #expect(inserted(&t, .zero, day: 3))
        #expect(t.contains(.zero))
        #expect(!inserted(&t, .zero, day: 3))
        #expect(t.count == before + 1)
        t.expire(before: 3)  // everything else had day 1
        #expect(t.count == 1 && t.contains(.zero) && !t.contains(Hash128(high: 42, low: 1)))
        t.expire(before: 4)
        #expect(t.count == 0 && !t.contains(.zero))
        #expect(t.verifyInvariants())
    }

    @Test func growsAndKeepsTheLoadBound() {
        var t = DedupTable(expectedCount: 10)
        let initial = t.slotCount
        var g = SeededGenerator(seed: 3)
        for i in 0..<100_000 {
            #expect(inserted(&t, randomKey(&g), day: 100))
            if i % 9_973 == 0 { #expect(t.load <= t.maxLoad) }
        }
        #expect(t.slotCount > initial)
        #expect(t.load <= t.maxLoad && t.load > t.maxLoad / 2 - 0.01)
        #expect(t.verifyInvariants())
    }

    @Test func expiryKeepsExactlyTheNonExpired() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var t = DedupTable()
        var byDay: [Int32: [Hash128]] = [:]
        for n in 0..<200_000 {
            let k = randomKey(&g)
            // Days in random order over 40 days; the first is within 32 days of the earliest (see `baseDay`).
            let day = n == 0 ? 19_030 : 19_000 + Int32(g.next() % 40)
            #expect(inserted(&t, k, day: day))
            byDay[day, default: []].append(k)
        }
        for cut in [Int32(18_000), 19_000, 19_005, 19_005, 19_020, 19_039] {
            t.expire(before: cut)
            #expect(t.verifyInvariants(), "seed \(seed), cut \(cut)")
            let kept = byDay.filter { $0.key >= cut }
            #expect(t.count == kept.values.reduce(0) { $0 + $1.count }, "seed \(seed), cut \(cut)")
            let wrong = byDay.reduce(0) { acc, e in
                acc + e.value.filter { t.contains($0) != (e.key >= cut) }.count
            }
            #expect(wrong == 0, "seed \(seed), cut \(cut): \(wrong) keys on the wrong side")
            if cut > 19_000 { #expect(t.baseDay == cut) }
        }
        t.expire(before: 30_000)
        #expect(t.count == 0)
    }

    @Test func daysOutsideTheWindowAreKeptLongerNeverShorter() {
        var t = DedupTable()
        let a = Hash128(high: 1, low: 1), b = Hash128(high: 2, low: 2), c = Hash128(high: 3, low: 3)
        #expect(inserted(&t, a, day: 1_000))
        #expect(t.baseDay == 1_000 - 32)
        #expect(inserted(&t, b, day: 900))  // before baseDay: kept as 968
        t.expire(before: 950)
        #expect(t.contains(b))
        t.expire(before: 969)
        #expect(!t.contains(b) && t.contains(a))
        #expect(inserted(&t, c, day: 1_300))  // 332 days after baseDay: baseDay moves to 1,300 − 254, a with it
        #expect(t.baseDay == 1_046)
        t.expire(before: 1_046)
        #expect(t.contains(a))
        t.expire(before: 1_047)
        #expect(!t.contains(a) && t.contains(c) && t.count == 1)
        #expect(t.verifyInvariants())
    }

    /// A steady state: 35 days remembered, one day of ids in and one out per step, as the pipeline runs.
    @Test func bytesPerIdAtSteadyStateAfterGrowth() {
        var t = DedupTable(expectedCount: 1_000)
        var g = SeededGenerator(seed: 7)
        let perDay = 20_000
        let horizon: Int32 = 35
        var worst = 0.0
        for day in Int32(0)..<Int32(120) {
            for _ in 0..<perDay { t.insert(randomKey(&g), day: 20_000 + day) }
            t.expire(before: 20_000 + day - horizon + 1)
            #expect(t.count == perDay * Int(min(day + 1, horizon)))
            if day >= 2 * horizon {  // after warm-up and the first expiries
                // Both extremes of the cycle: just after expiry, and just before it (next day's inserts).
                worst = max(worst, Double(t.bytesAllocated) / Double(t.count))
            }
        }
        var g2 = SeededGenerator(seed: 8)
        for _ in 0..<perDay { t.insert(randomKey(&g2), day: 20_000 + 120) }
        worst = max(worst, Double(t.bytesAllocated) / Double(t.count))
        print("DedupTable steady state: \(t.count) ids, \(t.slotCount) slots, load \(t.load), worst \(worst) bytes/id")
        #expect(worst <= 24, "\(worst) bytes per id at steady state")
        #expect(t.verifyInvariants())
    }

    @Test func serializeRoundTrip() throws {
        var g = SeededGenerator(seed: 5)
        var t = DedupTable()
        var keys: [Hash128] = []
        for i in 0..<50_000 {
            let k = randomKey(&g)
            keys.append(k)
            t.insert(k, day: 20_100 + Int32(i % 35))
        }
        t.insert(.zero, day: 20_101)
        let bytes = t.serialize()
        #expect(bytes.count == 18 + 50_000 * 17 + 8)
        var r = try DedupTable(deserializing: bytes)
        #expect(r.count == t.count && r.baseDay == t.baseDay)
        #expect(keys.allSatisfy { r.contains($0) } && r.contains(.zero))
        #expect(!r.contains(randomKey(&g)))
        #expect(r.verifyInvariants())
        // Same behaviour under expiry, including the reserved key's day.
        t.expire(before: 20_120)
        r.expire(before: 20_120)
        #expect(r.count == t.count)
        #expect(keys.allSatisfy { r.contains($0) == t.contains($0) })
        #expect(!r.contains(.zero))
        // Empty tables too.
        let empty = try DedupTable(deserializing: DedupTable().serialize())
        #expect(empty.count == 0)
    }

    @Test func corruptBytesThrowNotTrap() throws {
        var t = DedupTable()
        var g = SeededGenerator(seed: 9)
        for _ in 0..<100 { t.insert(randomKey(&g), day: 20_000) }
        let good = t.serialize()
        func kind(_ b: [UInt8]) -> DedupTableError.Kind? {
            do { _ = try DedupTable(deserializing: b); return nil } catch let e as DedupTableError { return e.kind } catch { return nil }
        }
        #expect(kind(good) == nil)
        #expect(kind([]) == .length)
        #expect(kind(Array(good.prefix(25))) == .length)
        #expect(kind(Array(good.dropLast())) == .length)
        #expect(kind(good + [0]) == .length)
        var v = good; v[0] = 2
        #expect(kind(v) == .version)
        var huge = good; for i in 2..<10 { huge[i] = 0xFF }  // a count that would overflow a multiplication
        #expect(kind(huge) == .length)
        // Every single-bit flip past the version byte is caught (checksum or length).
        for i in 1..<good.count {
            for b in [0, 3, 7] {
                var c = good
                c[i] ^= 1 << b
                #expect(kind(c) != nil, "flip of bit \(b) of byte \(i) accepted")
            }
        }
        // Well-formed bytes (valid checksum) that violate invariants: a duplicate key, the reserved key, a flag.
        func resealed(_ body: [UInt8]) -> [UInt8] {
            var b = Array(body.dropLast(8))
            DedupTable.append(DedupTable.checksum(b), to: &b)
            return b
        }
        var dup = good
        for i in 0..<17 { dup[18 + 17 + i] = dup[18 + i] }
        #expect(kind(resealed(dup)) == .invalid)
        var zero = good
        for i in 0..<16 { zero[18 + i] = 0 }
        #expect(kind(resealed(zero)) == .invalid)
        var flag = good; flag[1] = 2
        #expect(kind(resealed(flag)) == .invalid)
        // Random garbage never traps.
        var r = SeededGenerator(seed: 10)
        for n in 0..<2_000 {
            var junk = (0..<(n % 200)).map { _ in UInt8(truncatingIfNeeded: r.next()) }
            if !junk.isEmpty { junk[0] = 1 }
            #expect(kind(junk) != nil)
        }
    }

    @Test func copiesAreIndependent() {
        var a = DedupTable()
        a.insert(Hash128(high: 1, low: 2), day: 10)
        var b = a
        b.insert(Hash128(high: 3, low: 4), day: 10)
        a.expire(before: 11)
        #expect(a.count == 0 && !a.contains(Hash128(high: 1, low: 2)))
        #expect(b.count == 2 && b.contains(Hash128(high: 1, low: 2)) && b.contains(Hash128(high: 3, low: 4)))
    }

    @Test func prefetchChangesNothing() {
        var t = DedupTable()
        let k = Hash128(high: 5, low: 6)
        t.prefetch(k)
        #expect(!t.contains(k))
        t.insert(k, day: 1)
        t.prefetch(k)
        #expect(t.contains(k) && t.count == 1)
    }
}

/// The slot stores 120 bits of a key; the top 8 bits of its high word come from its place (see `DedupTable`).
@Suite struct DedupTableTopByteTests {
    /// Every key that differs from a remembered one only in the bits a slot does not store is still absent, in tables
    /// small and large, and the 256 keys that share the stored bits are 256 distinct members — also those whose
    /// stored bits are all zero, which must not read as empty slots.
    @Test func keysDifferingOnlyInTheTopByteAreDistinct() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        for expected in [0, 5_000, 300_000] {
            var t = DedupTable(expectedCount: expected)
            var keys: [Hash128] = []
            for _ in 0..<max(expected, 1_000) { keys.append(randomKey(&g)) }
            for k in keys { t.insert(k, day: 20_000) }
            var wrong = 0
            for k in keys.prefix(500) {
                for t8 in 0..<UInt64(256) where t8 != k.high >> 56 {
                    if t.contains(Hash128(high: (k.high & (1 << 56 - 1)) | t8 << 56, low: k.low)) { wrong += 1 }
                }
            }
            #expect(wrong == 0, "seed \(seed), \(expected) keys: \(wrong) false positives")
            // All 256 top bytes of two stored patterns: random bits, and zero stored bits (high = t << 56, low = 0).
            let base = randomKey(&g)
            for pattern in [Hash128(high: base.high & (1 << 56 - 1), low: base.low), Hash128(high: 0, low: 0)] {
                let before = t.count
                for t8 in 0..<UInt64(256) {
                    let k = Hash128(high: pattern.high | t8 << 56, low: pattern.low)
                    #expect(inserted(&t, k, day: 20_001) || DedupTable.isEmpty(k) && t.contains(k), "seed \(seed), top byte \(t8)")
                }
                #expect(t.count == before + 256, "seed \(seed), \(expected) keys")
                for t8 in 0..<UInt64(256) { #expect(t.contains(Hash128(high: pattern.high | t8 << 56, low: pattern.low))) }
            }
            #expect(t.verifyInvariants(), "seed \(seed), \(expected) keys")
            // They expire by their own days and survive a rebuild (the trim after the expiry moves every key).
            t.expire(before: 20_001)
            #expect(t.count == 512 && t.verifyInvariants(), "seed \(seed), \(expected) keys")
            #expect(!keys.contains { t.contains($0) }, "seed \(seed)")
        }
    }

    /// The table against a dictionary, over keys made to stress what a slot does not store: keys that share their
    /// stored 120 bits, keys crowded onto a few homes (long clusters, growth at the probe limit), the zero key; with
    /// expiries that delete inside clusters, round trips through `serialize`, and copies. Days stay within 254 of the
    /// base day, so the model is exact: a key is present iff its day (a day before the last cut counts as the cut)
    /// is at least the last cut.
    @Test func matchesADictionaryOnCrowdedKeys() throws {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var t = DedupTable(expectedCount: 0)
        var model: [Hash128: Int32] = [:]
        var cut: Int32 = 0
        var seen: [Hash128] = []
        let crowded = (0..<4).map { _ in g.next() & ~(1 << 40 - 1) }  // a few homes: high words that differ in low bits only
        func key() -> Hash128 {
            let roll = g.next() % 100
            if roll < 15, let k = seen.randomElement(using: &g) {  // the same stored bits, another top byte
                return Hash128(high: (k.high & (1 << 56 - 1)) | (g.next() & 0xFF) << 56, low: k.low)
            }
            if roll < 40 { return Hash128(high: crowded[Int(g.next() % 4)] | (g.next() & 0xFFF), low: g.next()) }
            if roll == 40 { return .zero }
            return randomKey(&g)
        }
        for step in 0..<40_000 {
            let k = step % 3 == 0 && !seen.isEmpty ? seen[Int(g.next() % UInt64(seen.count))] : key()
            // The first within 32 days of the earliest (the base day starts 32 days before the first day).
            let day = step == 0 ? 20_031 : 20_000 + Int32(g.next() % 60)
            let present = model[k].map { $0 >= cut } ?? false
            #expect(t.contains(k) == present, "seed \(seed), step \(step): contains")
            let wasInserted = t.insert(k, day: day)
            #expect(wasInserted == !present, "seed \(seed), step \(step): insert")
            // A day before the last cut is kept as the cut (the base day): longer, never shorter.
            if wasInserted { model[k] = max(day, cut); seen.append(k) }
            if step % 5_000 == 4_999 {
                cut = 20_000 + Int32(step / 5_000) * 6
                t.expire(before: cut)
                #expect(t.verifyInvariants(), "seed \(seed), step \(step): after the expiry")
                var copy = t                                    // a snapshot, then more inserts into the original
                t = try DedupTable(deserializing: copy.serialize())
                copy.insert(randomKey(&g), day: cut)
                #expect(t.count == model.values.filter { $0 >= cut }.count, "seed \(seed), step \(step): count")
            }
        }
        let wrong = model.filter { t.contains($0.key) != ($0.value >= cut) }.count
        #expect(wrong == 0, "seed \(seed): \(wrong) keys on the wrong side")
        #expect(t.verifyInvariants(), "seed \(seed)")
    }

    /// Keys the probe limit cannot hold where the load allows them (one home for all) grow the table instead, and stay
    /// exact; their top bytes still come back through `serialize` and a rebuild.
    @Test func aClusterPastTheProbeLimitGrowsTheTable() throws {
        var t = DedupTable(expectedCount: 0)
        let limit = t.storage.probeLimit
        for i in 1...UInt64(limit * 3) { t.insert(Hash128(high: 0xAB << 56 | 9, low: i), day: 100) }
        #expect(t.storage.probeLimit >= limit * 3 && t.count == limit * 3)
        #expect(t.verifyInvariants())
        let r = try DedupTable(deserializing: t.serialize())
        #expect(r.count == t.count && r.verifyInvariants())
        for i in 1...UInt64(limit * 3) {
            #expect(r.contains(Hash128(high: 0xAB << 56 | 9, low: i)) && !r.contains(Hash128(high: 0xAC << 56 | 9, low: i)))
        }
    }

    /// The changelog format (version 1) is the one the 17-byte-slot table wrote: the same table gives the same bytes
    /// (their checksum, taken from that code), and a relative day of 255, which it could write and this table cannot
    /// keep, is refused with an error.
    @Test func theSerializedFormatIsUnchanged() throws {
        var g = SeededGenerator(seed: 11)
        var t = DedupTable()
        for n in 0..<2_000 { t.insert(randomKey(&g), day: 19_000 + Int32(n % 40)) }
        t.insert(.zero, day: 19_030)
        t.insert(randomKey(&g), day: 19_200)  // 232 days after the base day (no rebase: those differ, 255 against 254)
        t.expire(before: 19_020)
        let bytes = t.serialize()
        #expect(t.count == 1_002 && bytes.count == 18 + 1_001 * 17 + 8)
        #expect(DedupTable.readLE(bytes, bytes.count - 8) == DedupTableTopByteTests.goldenChecksum)
        var day255 = bytes
        day255[18 + 16] = 255
        day255 = Array(day255.dropLast(8))
        DedupTable.append(DedupTable.checksum(day255), to: &day255)
        #expect(throws: DedupTableError.self) { _ = try DedupTable(deserializing: day255) }
    }

    static let goldenChecksum: UInt64 = 11_278_804_575_233_270_397
}
