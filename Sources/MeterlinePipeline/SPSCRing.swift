import Atomics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Owns: the bounded hand-off between one producer thread and one consumer thread (a shard's input ring,
// DESIGN.md §10). No locks, no DispatchQueue; a full ring is back-pressure, never growth.

/// A bounded, lock-free, single-producer single-consumer FIFO ring of `Element`s.
///
/// Meant for batches (a struct holding an array of events, a checkpoint barrier), not single events: the
/// two index updates per element are amortized over the batch.
///
/// - Warning: exactly one thread may call the producer side (`tryPush`, `push`) and exactly one thread the
///   consumer side (`tryPop`, `pop`) at a time; a second producer or consumer corrupts the ring.
///
/// Why `@unchecked Sendable`: the compiler cannot see the single-producer/single-consumer contract above.
/// Under it the ring is data-race free: `tail` is written only by the producer and `head` only by the
/// consumer, both as `ManagedAtomic` with a releasing store after the slot is written (producer) or moved
/// out (consumer), read by the other side with an acquiring load before it touches the slot; each side's
/// cached copy of the other index is touched by that side only. Element storage is one
/// `UnsafeMutablePointer` allocated at `init`; slots in [head, tail) are initialized, the rest are not.
public final class SPSCRing<Element>: @unchecked Sendable {
    /// Slots, a power of two.
    public let capacity: Int
    let mask: Int
    let slots: UnsafeMutablePointer<Element>
    /// Next slot to pop; written by the consumer. Indices grow without wrapping (Int64: centuries at 1e9/s).
    let head = ManagedAtomic<Int>(0)
    /// Next slot to push; written by the producer.
    let tail = ManagedAtomic<Int>(0)
    /// Producer-only: its own tail, and the last head it read (a lower bound of the real head).
    var producerTail = 0
    var producerCachedHead = 0
    /// Consumer-only: its own head, and the last tail it read (a lower bound of the real tail).
    var consumerHead = 0
    var consumerCachedTail = 0

    /// - Parameter capacity: at least 1; rounded up to a power of two (see `capacity`).
    public init(capacity: Int) {
        precondition(capacity >= 1 && capacity <= 1 << 30, "SPSCRing capacity \(capacity) outside 1...2^30")
        let c = capacity <= 1 ? 1 : 1 << (Int.bitWidth - (capacity - 1).leadingZeroBitCount)
        assert(c >= capacity && c & (c - 1) == 0)
        self.capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
    }

    deinit {
        // No other thread can hold a reference now: destroy what was pushed and not popped.
        let h = head.load(ordering: .acquiring)
        let t = tail.load(ordering: .acquiring)
        precondition(h <= t && t - h <= capacity, "SPSCRing corrupt: head \(h), tail \(t)")
        var i = h
        while i < t {
            (slots + (i & mask)).deinitialize(count: 1)
            i += 1
        }
        slots.deallocate()
    }

    /// Producer side. Appends `e` unless the ring is full.
    /// - Returns: false when full (back-pressure: retry later); `e` was not consumed.
    @discardableResult
    public func tryPush(_ e: Element) -> Bool {
        let t = producerTail
        if t - producerCachedHead == capacity {
            producerCachedHead = head.load(ordering: .acquiring)
            assert(producerCachedHead <= t && t - producerCachedHead <= capacity)
            if t - producerCachedHead == capacity { return false }
        }
        (slots + (t & mask)).initialize(to: e)
        producerTail = t + 1
        tail.store(t + 1, ordering: .releasing)
        return true
    }

    /// Consumer side. Removes and returns the oldest element, or nil when the ring is empty.
    public func tryPop() -> Element? {
        let h = consumerHead
        if h == consumerCachedTail {
            consumerCachedTail = tail.load(ordering: .acquiring)
            assert(consumerCachedTail >= h && consumerCachedTail - h <= capacity)
            if h == consumerCachedTail { return nil }
        }
        let e = (slots + (h & mask)).move()
        consumerHead = h + 1
        head.store(h + 1, ordering: .releasing)
        return e
    }

    /// Whether the ring holds no element. Exact on the consumer thread (only the producer can change it,
    /// and only to non-empty); elsewhere a snapshot that may be stale by the time it is read.
    public var isEmpty: Bool {
        head.load(ordering: .acquiring) == tail.load(ordering: .acquiring)
    }

    /// Elements in the ring: a snapshot, exact only while neither side runs.
    public var count: Int {
        let h = head.load(ordering: .acquiring)
        return tail.load(ordering: .acquiring) - h
    }

    /// Producer side, blocking: retries `tryPush` `spin` times, then yields the CPU (`sched_yield`) between
    /// further retries, and after 1,024 yields sleeps 20 µs between retries (a long wait — a shard busy with a
    /// checkpoint, an idle input — then costs no CPU the other threads need). No lock, no allocation.
    /// - Warning: waits as long as the ring stays full: the consumer must keep popping (or the caller
    ///   should use `tryPush` with its own deadline).
    public func push(_ e: Element, spin: Int = 128) {
        precondition(spin >= 0, "spin \(spin) < 0")
        var attempts = 0
        while !tryPush(e) {
            attempts += 1
            SPSCRing.backOff(attempts, spin: spin)
        }
    }

    /// Consumer side, blocking: the mirror of `push(_:spin:)`.
    /// - Warning: waits as long as the ring stays empty.
    public func pop(spin: Int = 128) -> Element {
        precondition(spin >= 0, "spin \(spin) < 0")
        var attempts = 0
        while true {
            if let e = tryPop() { return e }
            attempts += 1
            SPSCRing.backOff(attempts, spin: spin)
        }
    }

    /// Spin, then yield, then sleep: the wait policy of `push` and `pop` after `attempts` failed tries.
    @inline(__always)
    static func backOff(_ attempts: Int, spin: Int) {
        if attempts <= spin { return }
        if attempts <= spin + 1_024 { _ = sched_yield(); return }
        var ts = timespec(tv_sec: 0, tv_nsec: 20_000)
        _ = nanosleep(&ts, nil)
    }
}
