import Atomics
import Foundation
@testable import MeterlinePipeline
import Testing

/// A batch as the pipeline hands them over: a struct holding an array.
struct SeqBatch {
    var values: [Int]
}

/// Counts its deinits, to prove each element is released exactly once.
final class Tracked {
    let id: Int
    let deinits: ManagedAtomic<Int>
    init(_ id: Int, _ deinits: ManagedAtomic<Int>) {
        self.id = id
        self.deinits = deinits
    }
    deinit { deinits.wrappingIncrement(ordering: .relaxed) }
}

@Suite struct SPSCRingTests {
    @Test func fifoFullAndEmptyOnOneThread() {
        let r = SPSCRing<Int>(capacity: 5)
        #expect(r.capacity == 8)
        #expect(r.isEmpty && r.tryPop() == nil)
        for i in 0..<8 { #expect(r.tryPush(i)) }
        #expect(!r.tryPush(99), "full ring accepted a push")
        #expect(r.count == 8 && !r.isEmpty)
        for i in 0..<3 { #expect(r.tryPop() == i) }
        for i in 8..<11 { #expect(r.tryPush(i)) }
        #expect(!r.tryPush(99))
        for i in 3..<11 { #expect(r.tryPop() == i) }
        #expect(r.tryPop() == nil && r.isEmpty)
        // Many laps around the slots.
        for lap in 0..<1_000 {
            for i in 0..<(lap % 8 + 1) { #expect(r.tryPush(lap * 10 + i)) }
            for i in 0..<(lap % 8 + 1) { #expect(r.tryPop() == lap * 10 + i) }
        }
        #expect(r.isEmpty)
        let one = SPSCRing<String>(capacity: 1)
        #expect(one.capacity == 1 && one.tryPush("a") && !one.tryPush("b") && one.tryPop() == "a")
    }

    @Test func twoThreadsOneMillionSequenceNumbersInBatches() throws {
        let total = 1_000_000
        let batchSize = 100
        let ring = SPSCRing<SeqBatch>(capacity: 64)
        let producerDone = ManagedAtomic<Bool>(false)
        let stop = ManagedAtomic<Bool>(false)  // set if the consumer gives up, so the producer ends too
        let producer = Thread {
            var next = 0
            while next < total && !stop.load(ordering: .relaxed) {
                let n = min(batchSize, total - next)
                let batch = SeqBatch(values: Array(next..<next + n))
                var spins = 0
                while !ring.tryPush(batch) {
                    if stop.load(ordering: .relaxed) { break }
                    spins += 1
                    if spins > 64 { sched_yield() }
                }
                next += n
            }
            producerDone.store(true, ordering: .releasing)
        }
        producer.start()

        // Consumer on the test's thread: loops until it has everything; the deadline only catches a hang.
        let deadline = ContinuousClock.now + .seconds(120)
        var expected = 0
        var batches = 0
        var outOfOrder: String?
        while expected < total {
            if let b = ring.tryPop() {
                batches += 1
                for v in b.values {
                    if v != expected && outOfOrder == nil { outOfOrder = "got \(v), expected \(expected)" }
                    expected = v + 1
                }
            } else {
                if ContinuousClock.now > deadline { break }
                sched_yield()
            }
        }
        stop.store(true, ordering: .relaxed)
        #expect(expected == total, "consumer got \(expected) of \(total) sequence numbers before the deadline")
        #expect(outOfOrder == nil, "\(outOfOrder ?? "")")
        #expect(batches == total / batchSize)
        let joinDeadline = ContinuousClock.now + .seconds(30)
        while !producerDone.load(ordering: .acquiring) && ContinuousClock.now < joinDeadline { sched_yield() }
        let finished = producerDone.load(ordering: .acquiring)
        #expect(finished, "producer did not finish")
        #expect(ring.isEmpty && ring.tryPop() == nil)
    }

    @Test func classPayloadsAreReleasedExactlyOnce() {
        let deinits = ManagedAtomic<Int>(0)
        do {
            let ring = SPSCRing<[Tracked]>(capacity: 16)
            var id = 0
            for _ in 0..<10 {
                #expect(ring.tryPush((0..<3).map { _ in defer { id += 1 }; return Tracked(id, deinits) }))
            }
            // Refused pushes do not leak or double-release.
            let extra = (0..<6).map { _ in [Tracked(-1, deinits)] }
            for e in extra { #expect(ring.tryPush(e)) }
            #expect(!ring.tryPush([Tracked(-2, deinits)]))
            let afterRefused = deinits.load(ordering: .relaxed)
            #expect(afterRefused == 1)
            // Popped elements are released when the caller drops them.
            for expectedFirst in [0, 3, 6, 9] {
                let b = ring.tryPop()
                #expect(b?.first?.id == expectedFirst)
            }
            let afterPops = deinits.load(ordering: .relaxed)
            #expect(afterPops == 1 + 12)
            _ = extra
        }
        // The ring's deinit destroyed the 12 that stayed: 6 batches of 3 and 6 singles, plus the refused one.
        let atEnd = deinits.load(ordering: .relaxed)
        #expect(atEnd == 30 + 6 + 1)
    }

    @Test func blockingPushAndPopAcrossThreads() {
        let ring = SPSCRing<Int>(capacity: 2)
        let sum = ManagedAtomic<Int>(0)
        let done = ManagedAtomic<Bool>(false)
        let consumer = Thread {
            var s = 0
            for _ in 0..<10_000 { s += ring.pop(spin: 16) }
            sum.store(s, ordering: .relaxed)
            done.store(true, ordering: .releasing)
        }
        consumer.start()
        for i in 1...10_000 { ring.push(i, spin: 16) }
        let deadline = ContinuousClock.now + .seconds(60)
        while !done.load(ordering: .acquiring) && ContinuousClock.now < deadline { sched_yield() }
        let finished = done.load(ordering: .acquiring)
        let total = sum.load(ordering: .relaxed)
        #expect(finished, "consumer did not finish")
        #expect(total == 10_000 * 10_001 / 2)
    }

    /// Ping-pong through two one-slot rings without spinning: almost every hand-off parks one thread and needs the
    /// other to wake it. A lost wake-up would leave a thread asleep for its whole guard (10 s here, so a slow
    /// machine cannot be mistaken for one) and show in `parkTimeouts`; the values also check order and loss.
    @Test func parkedSidesAreWokenWithoutWaitingForTheirGuard() {
        let rounds = 20_000
        let there = SPSCRing<Int>(capacity: 1, parkGuard: .seconds(10))
        let back = SPSCRing<Int>(capacity: 1, parkGuard: .seconds(10))
        let done = ManagedAtomic<Bool>(false)
        let echo = Thread {
            for _ in 0..<rounds { back.push(there.pop(spin: 0) &* 2, spin: 0) }
            done.store(true, ordering: .releasing)
        }
        echo.start()
        var wrong = 0
        for i in 0..<rounds {
            there.push(i, spin: 0)
            if back.pop(spin: 0) != i &* 2 { wrong += 1 }
        }
        while !done.load(ordering: .acquiring) { sched_yield() }
        #expect(wrong == 0, "answers out of order or lost")
        #expect(there.parkTimeouts.load(ordering: .relaxed) == 0, "a parked side of the outbound ring slept its whole guard")
        #expect(back.parkTimeouts.load(ordering: .relaxed) == 0, "a parked side of the return ring slept its whole guard")
    }

    /// A producer blocked on a full ring is woken by the consumer's pop (the other direction of the test above).
    @Test func aProducerParkedOnAFullRingIsWokenByAPop() {
        let ring = SPSCRing<Int>(capacity: 1, parkGuard: .seconds(10))
        #expect(ring.tryPush(0))
        let pushed = ManagedAtomic<Bool>(false)
        let producer = Thread {
            ring.push(1, spin: 0)  // full: parks until the pop below
            pushed.store(true, ordering: .releasing)
        }
        producer.start()
        // Wait until the producer has announced its park, so the pop has to wake it.
        while ring.producerParked.isSet == false { sched_yield() }
        #expect(ring.pop(spin: 0) == 0)
        #expect(ring.pop(spin: 0) == 1)
        while !pushed.load(ordering: .acquiring) { sched_yield() }
        #expect(ring.parkTimeouts.load(ordering: .relaxed) == 0, "the parked producer slept its whole guard")
    }
}
