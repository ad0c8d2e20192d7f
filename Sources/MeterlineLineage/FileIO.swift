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

    /// Writes `bytes` to `directory/name` via a temp file, fsync, rename and directory fsync.
    static func writeAtomically(_ bytes: [UInt8], directory: String, name: String) throws(LineageError) {
        precondition(!name.contains("/"), "file name must not contain '/'")
        let dir = directory.isEmpty ? "." : directory
        let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
        let temp = (dir.hasSuffix("/") ? dir : dir + "/") + ".\(name).\(getpid()).tmp"

        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LineageError(file: path, message: errnoMessage("cannot create temp file \(temp)", errno), code: .io)
        }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { buf in
                    write(fd, buf.baseAddress! + written, buf.count - written)
                }
                if n < 0 {
                    let e = errno
                    if e == EINTR { continue }
                    throw LineageError(file: path, message: errnoMessage("write failed", e), code: .io)
                }
                precondition(n > 0 || bytes.count == written, "write returned 0")
                written += n
            }
            assert(written == bytes.count)
            if fsync(fd) != 0 {
                throw LineageError(file: path, message: errnoMessage("fsync failed", errno), code: .io)
            }
        }
        if rename(temp, path) != 0 {
            throw LineageError(file: path, message: errnoMessage("rename from \(temp) failed", errno), code: .io)
        }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)  // Best effort: some filesystems refuse fsync on directories.
            close(dfd)
        }
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
