// POSIX file access for lineage files: atomic writes and positioned reads. Every failure becomes
// a LineageError naming the file.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum FileIO {
    static func errnoMessage(_ what: String, _ code: Int32) -> String {
        "\(what): \(String(cString: strerror(code))) (errno \(code))"
    }

    /// Writes `bytes` to `directory/name` via a temp file, fsync, rename and directory fsync. The bytes go
    /// through `DirectFileWriter`: past the kernel's page cache where the filesystem allows it.
    static func writeAtomically(_ bytes: [UInt8], directory: String, name: String) throws(LineageError) {
        precondition(!name.contains("/"), "file name must not contain '/'")
        let dir = directory.isEmpty ? "." : directory
        let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
        let temp = (dir.hasSuffix("/") ? dir : dir + "/") + ".\(name).\(getpid()).tmp"

        let file = try DirectFileWriter(path: temp, reportedAs: path, bufferBytes: min(bytes.count, 1 << 20))
        do throws(LineageError) {
            let appended = bytes.withUnsafeBytes { b -> Result<Void, LineageError> in
                do throws(LineageError) { try file.append(b); return .success(()) } catch { return .failure(error) }
            }
            try appended.get()
            try file.finish(sync: true)
        } catch {
            file.abandon()
            throw error
        }
        if rename(temp, path) != 0 {
            let e = errno
            unlink(temp)
            throw LineageError(file: path, message: errnoMessage("rename from \(temp) failed", e), code: .io)
        }
        DirectFileWriter.syncDirectory(dir)
    }
}

/// A new file written sequentially from a block-aligned buffer with `O_DIRECT` where the filesystem allows it, so the
/// bytes go from the buffer to the device without a copy into the kernel's page cache; buffered `write(2)` otherwise.
///
/// Why: the outputs of a backfill are large (lineage ~22 B per event, billing events ~300 B each) and read back
/// rarely, and on this project's VMs the page-cache copy ran at ~0.4 GB/s: ~7 % of a 20M-event backfill's CPU
/// (BENCHMARKS.md, 2026-12-07). Whole blocks of `blockBytes` go out with `O_DIRECT`; the last partial block, after
/// `O_DIRECT` is cleared with `fcntl`, goes out buffered. A filesystem without `O_DIRECT` (tmpfs on older kernels,
/// some FUSE and overlay setups) refuses it at `open` (then the file is opened without it) or at the first write with
/// `EINVAL` (then the file is written buffered from that point on).
///
/// Invariants: `0 <= count <= capacity`; `buffer` is aligned to `blockBytes`; while `direct`, every write so far
/// was whole blocks at block-aligned offsets. The descriptor is closed exactly once (`finish`, `abandon` or deinit).
/// A class: one owner writes it; it is not thread-safe.
public final class DirectFileWriter {
    /// The alignment of `O_DIRECT` buffers, offsets and lengths: the largest logical block size in common use.
    public static let blockBytes = 4096

    /// Linux's `O_DIRECT`, which the Swift Glibc module does not export (it needs `_GNU_SOURCE`); 0 where there is
    /// none, and the file is then always written buffered.
    static let oDirect: Int32 = {
        #if os(Linux) && arch(x86_64)
        return 0o40000
        #elseif os(Linux) && arch(arm64)
        return 0o200000
        #else
        return 0
        #endif
    }()

    /// The file written (the temporary name, when the caller renames it afterwards).
    public let path: String
    /// The name errors report (the final path of a file written under a temporary name).
    let reportedPath: String
    var fd: Int32 = -1
    /// Whether the descriptor is in `O_DIRECT` mode.
    public private(set) var direct: Bool
    let buffer: UnsafeMutableRawPointer
    let capacity: Int
    var count = 0

    /// Creates (or truncates) `path`. `bufferBytes` is rounded up to whole blocks; bytes are written each time the
    /// buffer fills. `reportedAs` names the file in errors.
    public convenience init(path: String, reportedAs: String? = nil, bufferBytes: Int = 4 << 20) throws(LineageError) {
        try self.init(path: path, reportedAs: reportedAs, bufferBytes: bufferBytes, allowDirect: true)
    }

    /// `allowDirect: false` writes buffered from the start, as on a filesystem without `O_DIRECT` (for tests).
    init(path: String, reportedAs: String?, bufferBytes: Int, allowDirect: Bool) throws(LineageError) {
        self.path = path
        reportedPath = reportedAs ?? path
        let block = DirectFileWriter.blockBytes
        capacity = max(block, (bufferBytes + block - 1) / block * block)
        let directFlag = allowDirect ? DirectFileWriter.oDirect : 0
        var fd = directFlag == 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | directFlag, 0o644)
        direct = fd >= 0
        // Any refusal with O_DIRECT (EINVAL on most filesystems without it; others answer differently) is retried
        // without it; a path that cannot be created fails again there, with the errno reported below.
        if fd < 0 { fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard fd >= 0 else {
            throw LineageError(file: reportedPath, message: FileIO.errnoMessage("cannot create \(path)", errno), code: .io)
        }
        self.fd = fd
        buffer = .allocate(byteCount: capacity, alignment: block)
    }

    deinit {
        if fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    /// Appends bytes, writing out every full buffer.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(LineageError) {
        guard var from = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = min(left, capacity - count)
            (buffer + count).copyMemory(from: from, byteCount: n)
            count += n
            from += n
            left -= n
            if count == capacity { try writeBuffer(upTo: capacity) }
        }
    }

    /// Appends one byte.
    @inline(__always)
    public func append(byte: UInt8) throws(LineageError) {
        buffer.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
        if count == capacity { try writeBuffer(upTo: capacity) }
    }

    /// Writes what is buffered, flushes it to the device when `sync`, and closes the file.
    public func finish(sync: Bool) throws(LineageError) {
        let whole = direct ? count / DirectFileWriter.blockBytes * DirectFileWriter.blockBytes : count
        if whole > 0 { try writeBuffer(upTo: whole) }
        if count > 0 {
            try leaveDirectMode()
            try writeBuffer(upTo: count)
        }
        if sync && fsync(fd) != 0 {
            throw LineageError(file: reportedPath, message: FileIO.errnoMessage("fsync failed", errno), code: .io)
        }
        let closed = close(fd)
        fd = -1
        if closed != 0 { throw LineageError(file: reportedPath, message: FileIO.errnoMessage("close failed", errno), code: .io) }
    }

    /// Flushes a directory's entries (new names, renames) to the device: best effort, as some filesystems refuse
    /// `fsync` on directories. With the files in it synced first, what the directory lists survives a crash.
    public static func syncDirectory(_ path: String) {
        let dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Closes and removes the file (after an error).
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(path)
    }

    /// Writes `buffer[0..<n]` and moves the bytes after it to the front. In `O_DIRECT` mode `n` is whole blocks; a
    /// write the filesystem refuses with `EINVAL` leaves that mode and is retried buffered.
    func writeBuffer(upTo n: Int) throws(LineageError) {
        var done = 0
        while done < n {
            let w = write(fd, buffer + done, n - done)
            if w < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EINVAL && direct {
                    try leaveDirectMode()
                    continue
                }
                throw LineageError(file: reportedPath, message: FileIO.errnoMessage("write failed", e), code: .io)
            }
            precondition(w > 0, "write returned 0")
            done += w
            // A short direct write (a full device) may end mid-block: the rest goes out buffered.
            if direct && done < n && done % DirectFileWriter.blockBytes != 0 { try leaveDirectMode() }
        }
        if n < count { buffer.copyMemory(from: buffer + n, byteCount: count - n) }
        count -= n
    }

    func leaveDirectMode() throws(LineageError) {
        guard direct else { return }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~DirectFileWriter.oDirect) == 0 else {
            throw LineageError(file: reportedPath, message: FileIO.errnoMessage("cannot leave O_DIRECT mode", errno), code: .io)
        }
        direct = false
    }
}

/// An open read-only file descriptor, closed exactly once in `deinit`.
///
/// Invariant: `fd >= 0` for the object's lifetime; `pread` is position-free, so concurrent reads
/// from several threads are safe, which is why this class is `Sendable`.
final class ReadableFile: Sendable {
    let path: String
    let fd: Int32
    let size: Int

    init(path: String) throws(LineageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw LineageError(file: path, message: e == ENOENT ? "no such file" : FileIO.errnoMessage("cannot open", e),
                               code: e == ENOENT ? .notFound : .io)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw LineageError(file: path, message: FileIO.errnoMessage("cannot stat", e), code: .io)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw LineageError(file: path, message: "not a regular file", code: .notLineage)
        }
        self.path = path
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at `offset`, or throws (a short read means the file is truncated).
    func read(offset: Int, count: Int, what: String) throws(LineageError) -> [UInt8] {
        precondition(offset >= 0 && count >= 0)
        guard offset <= size, count <= size - offset else {
            throw LineageError(file: path, message: "\(what) at \(offset)+\(count) lies beyond the end of the \(size)-byte file",
                               code: .truncated)
        }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if failure != 0 {
            throw LineageError(file: path, message: FileIO.errnoMessage("read of \(what) failed", failure), code: .io)
        }
        guard bytes.count == count else {
            throw LineageError(file: path, message: "file ended while reading \(what)", code: .truncated)
        }
        return bytes
    }
}
