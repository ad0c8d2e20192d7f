/// Bytes appended in small pieces: JSON documents, the id column of a checkpoint's lineage. An append is one
/// capacity check and one copy, where `[UInt8].append(contentsOf:)` spends ~100 instructions per call on its
/// generic sequence handling (measured with callgrind: a third of writing a billing event as JSON).
///
/// Value semantics by copy-on-write: a mutation of storage that another copy shares copies it first (a checkpoint
/// hands its columns out, then the partition empties and refills its own).
/// Invariant: `count <= storage.capacity`; bytes `0..<count` of `storage.base` are initialized. The count lives in
/// the struct and the storage has only constants, so no access to it needs a dynamic exclusivity check (a `var` in
/// the class cost a `swift_beginAccess` per append, three times the append itself).
public struct GrowableBytes: Sendable {
    /// Why `@unchecked Sendable`: it is written only through `GrowableBytes`' mutating methods, and only while
    /// uniquely referenced, so storage that two threads can see is never written.
    @usableFromInline final class Storage: @unchecked Sendable {
        @usableFromInline let base: UnsafeMutableRawPointer
        @usableFromInline let capacity: Int
        @usableFromInline init(capacity: Int) {
            self.capacity = capacity
            base = .allocate(byteCount: max(1, capacity), alignment: 16)
        }
        deinit { base.deallocate() }
    }

    @usableFromInline var storage: Storage
    @usableFromInline var _count = 0
    public var count: Int { _count }

    public init(capacity: Int = 0) { storage = Storage(capacity: capacity) }

    public var isEmpty: Bool { count == 0 }

    /// Makes room for `n` more bytes in storage this value owns alone; returns where they go.
    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer {
        if !isKnownUniquelyReferenced(&storage) || storage.capacity &- count < n { reallocate(minimumCapacity: count + n) }
        return storage.base + count
    }

    /// Moves the bytes into new storage of at least `minimumCapacity` (at least twice the old capacity).
    @usableFromInline @inline(never)
    mutating func reallocate(minimumCapacity: Int) {
        let new = Storage(capacity: Swift.max(minimumCapacity, 2 * storage.capacity, 256))
        new.base.copyMemory(from: storage.base, byteCount: count)
        storage = new
    }

    @inlinable @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let from = bytes.baseAddress else { return }
        let to = reserve(n)
        if n >= 16 && n <= 64 {
            // 16 to 64 bytes (an event id, a key text): 16-byte copies that may overlap, inside both ranges, instead
            // of a `memcpy` call per append.
            @inline(__always) func copy16(_ at: Int) {
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: at, as: SIMD16<UInt8>.self), toByteOffset: at, as: SIMD16<UInt8>.self)
            }
            copy16(0)
            copy16(n &- 16)
            if n > 32 {
                copy16(16)
                copy16(n &- 32)
            }
        } else {
            to.copyMemory(from: from, byteCount: n)
        }
        _count &+= n
    }

    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1).storeBytes(of: byte, as: UInt8.self)
        _count &+= 1
    }

    @inlinable
    public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends the UTF-8 of `text` (read in place for a native string).
    @inlinable
    public mutating func append(text: String) {
        var t = text
        t.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Lets `body` write at most `maxCount` bytes at the end; it returns how many it wrote.
    @inlinable @inline(__always)
    public mutating func append(upTo maxCount: Int, _ body: (UnsafeMutableRawPointer) -> Int) {
        let n = body(reserve(maxCount))
        precondition(n >= 0 && n <= maxCount, "wrote more than it reserved")
        _count &+= n
    }

    /// Forgets the bytes; keeps the capacity (new storage of the same size when another copy shares this one).
    public mutating func removeAll() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(capacity: storage.capacity) }
        _count = 0
    }

    /// Runs `body` with the bytes.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeRawBufferPointer(start: storage.base, count: count)) }
    }

    /// The bytes as an array (a copy).
    public var array: [UInt8] { withUnsafeBytes { Array($0) } }
}
