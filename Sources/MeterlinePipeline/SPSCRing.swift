import Atomics
import CFutex

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
///
/// Blocking: `push` on a full ring and `pop` on an empty one spin briefly, then park their thread on a futex word
/// (`ParkingWord`) until the other side moves its index, instead of polling with `sched_yield`: on two cores shared by
/// a reader, shards and writers, a polling thread took CPU from the threads it was waiting for (hundreds of thousands
/// of context switches per backfill). A parked side announces itself by setting its word, then re-checks the ring;
/// the other side sets its index, then reads the word (a sequentially consistent fence between the store and the
/// load on both sides), so at least one of them sees the other and no wake-up is lost.
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
    /// Set by the consumer while it is parked waiting for an element; cleared (and the consumer woken) by the producer.
    let consumerParked = ParkingWord()
    /// Set by the producer while it is parked waiting for room; cleared (and the producer woken) by the consumer.
    let producerParked = ParkingWord()

    /// How long one park sleeps at most before re-checking the ring on its own: a guard against a lost wake-up,
    /// which the protocol never needs (see above).
    let parkGuardNanoseconds: Int
    /// Parks that slept their whole guard: a lost wake-up, or the other side stalled that long (a test sets a
    /// guard long enough that only the first is plausible). Touched only on the parking path.
    let parkTimeouts = ManagedAtomic<Int>(0)

    /// - Parameter capacity: at least 1; rounded up to a power of two (see `capacity`).
    /// - Parameter parkGuard: the longest a parked side sleeps before re-checking the ring on its own.
    public init(capacity: Int, parkGuard: Duration = .milliseconds(100)) {
        let g = parkGuard.components
        precondition(g.seconds >= 0 && g.seconds < 1_000 && parkGuard > .zero, "SPSCRing parkGuard \(parkGuard) outside (0, 1000 s)")
        parkGuardNanoseconds = Int(g.seconds) * 1_000_000_000 + Int(g.attoseconds / 1_000_000_000)
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
        consumerParked.deallocate()
        producerParked.deallocate()
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
        consumerParked.wakeAfterStore()
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
        producerParked.wakeAfterStore()
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

    /// Producer side, blocking: retries `tryPush` `spin` times, then parks the thread until the consumer pops
    /// (a long wait — a shard busy with a checkpoint — costs no CPU the other threads need). No lock, no allocation.
    /// - Warning: waits as long as the ring stays full: the consumer must keep popping (or the caller
    ///   should use `tryPush` with its own deadline).
    public func push(_ e: Element, spin: Int = 128) {
        precondition(spin >= 0, "spin \(spin) < 0")
        var attempts = 0
        while !tryPush(e) {
            attempts += 1
            if attempts > spin {
                // Room appears when the consumer's head passes `producerTail − capacity + 1`.
                producerParked.park(guardNanoseconds: parkGuardNanoseconds, timeouts: parkTimeouts) { [self] in
                    producerTail - head.load(ordering: .relaxed) < capacity
                }
            }
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
            if attempts > spin {
                consumerParked.park(guardNanoseconds: parkGuardNanoseconds, timeouts: parkTimeouts) { [self] in
                    tail.load(ordering: .relaxed) != consumerHead
                }
            }
        }
    }
}

/// A 32-bit word one side of a ring parks its thread on (a Linux futex): 1 while that side is parked or about to
/// be, 0 otherwise. Invariant: only the parking side sets it to 1 (and clears it again when the ring turns out
/// ready before it sleeps); the other side clears it and wakes the parked thread.
struct ParkingWord: @unchecked Sendable {
    /// Why `@unchecked Sendable`: the word is only touched through atomic operations (and the futex system call,
    /// which reads it atomically); the pointer itself is immutable.
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>

    init() {
        precondition(MemoryLayout<UnsafeAtomic<UInt32>.Storage>.size == 4, "a futex word is 32 bits")
        storage = .allocate(capacity: 1)
        storage.initialize(to: UnsafeAtomic<UInt32>.Storage(0))
    }

    func deallocate() {
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    private var word: UnsafeAtomic<UInt32> { UnsafeAtomic(at: storage) }

    /// Whether the parking side has announced a park (a snapshot, for tests).
    var isSet: Bool { word.load(ordering: .acquiring) != 0 }

    /// Announces the park, re-checks `ready` (after a full fence, so the other side's index store is seen or the
    /// announcement is), and sleeps until woken — at most `guardNanoseconds`, counted in `timeouts` when the whole
    /// guard passed — unless it is ready. The caller retries its operation afterwards.
    @inline(__always)
    func park(guardNanoseconds: Int, timeouts: ManagedAtomic<Int>, until ready: () -> Bool) {
        word.store(1, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if ready() {
            word.store(0, ordering: .relaxed)
            return
        }
        if meterline_futex_wait(UnsafeMutableRawPointer(storage).assumingMemoryBound(to: UInt32.self), 1, guardNanoseconds) != 0 {
            timeouts.wrappingIncrement(ordering: .relaxed)
        }
    }

    /// Called by the other side right after it stored its index (releasing): if the parking side announced
    /// itself, clears the word and wakes it.
    @inline(__always)
    func wakeAfterStore() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if word.load(ordering: .relaxed) != 0 {
            word.store(0, ordering: .relaxed)
            meterline_futex_wake(UnsafeMutableRawPointer(storage).assumingMemoryBound(to: UInt32.self))
        }
    }
}
