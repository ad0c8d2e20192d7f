import Glibc
import MeterlineCore

// Owns: the billing events a partition has published since its last checkpoint, in storage the checkpoint can
// move them out of. Never imports the engine, Kafka or lineage modules.

/// The billing events one partition published since its last checkpoint, in publication order.
///
/// The checkpoint moves them into its output (`moveAll(to:)`) instead of copying them: a copy retained each
/// event's strings and arrays (cold heap objects at a checkpoint), and emptying the array released them again.
/// Growth is a `realloc`, which moves the events (Swift values are movable by their bytes) without a second
/// buffer and without faulting fresh pages in for the part already written.
///
/// Invariants: `base[0..<count]` are initialized events, `count <= capacity`, and `capacity` events fit in the
/// `malloc`ed block at `base` (nil while `capacity == 0`). One owner: the partition's shard, as for the rest of
/// `PartitionState` (a copy of the state shares this buffer, so copies are only read).
final class BillingBuffer {
    private(set) var count = 0
    private(set) var capacity = 0
    private var base: UnsafeMutablePointer<BillingEvent>? = nil

    init() {
        precondition(MemoryLayout<BillingEvent>.alignment <= 16, "malloc aligns to 16 bytes")
    }

    deinit {
        if let b = base {
            b.deinitialize(count: count)
            free(b)
        }
    }

    var isEmpty: Bool { count == 0 }

    /// Makes room for at least `n` events in all.
    func reserveCapacity(_ n: Int) {
        guard n > capacity else { return }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: MemoryLayout<BillingEvent>.stride)
        precondition(!overflow, "billing buffer size overflows")
        guard let p = realloc(base, bytes) else { fatalError("out of memory: \(bytes) bytes for billing events") }
        base = p.assumingMemoryBound(to: BillingEvent.self)
        capacity = n
    }

    func append(_ event: consuming BillingEvent) {
        if count == capacity { reserveCapacity(Swift.max(16, 2 * capacity)) }
        (base! + count).initialize(to: event)
        count += 1
    }

    /// Moves every event to `target` (uninitialized room for `count` events), in order, and leaves the buffer empty
    /// with its capacity kept. Returns how many were moved.
    func moveAll(to target: UnsafeMutablePointer<BillingEvent>) -> Int {
        let n = count
        if n > 0 { target.moveInitialize(from: base!, count: n) }
        count = 0
        return n
    }
}

/// Billing events a checkpoint hands over in the buffers its partitions filled (`Pipeline.handsOverBilling`), in
/// partition order, instead of moving them into `CheckpointOutput.billing`: a consumer that gathers many checkpoints'
/// events into one array (the backfill) then moves each event once, where an array per checkpoint moved it twice
/// (and faulted fresh pages in for both copies).
///
/// Invariants: it alone owns its buffers (the partitions were given new ones); `count` is their events' count until
/// `moveAll(to:)`, which empties them. One owner at a time: the shard that made it, then the consumer it is given to.
public final class BillingHandover: @unchecked Sendable {
    private let buffers: [BillingBuffer]
    public private(set) var count: Int

    init(_ buffers: [BillingBuffer]) {
        self.buffers = buffers
        count = buffers.reduce(0) { $0 + $1.count }
    }

    /// Moves every event to `target` (uninitialized room for `count` events), in partition order, and leaves the
    /// handover empty. Returns how many were moved.
    public func moveAll(to target: UnsafeMutablePointer<BillingEvent>) -> Int {
        var n = 0
        for b in buffers { n += b.moveAll(to: target + n) }
        assert(n == count)
        count = 0
        return n
    }
}
