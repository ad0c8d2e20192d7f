import Foundation

/// Writes a file of lines through a temporary file (`<path>.tmp`) renamed over `path` by `finish()`, in 4 MiB
/// chunks, so no output is ever held whole in memory (nor passed as one `Data`: this Foundation corrupted
/// bytes past 2 GiB in a single `Data`) and a reader never sees a half-written file at `path`.
///
/// Invariant: `path` holds either its previous content or every line appended, never a prefix.
struct LineFileWriter {
    let path: String
    let temporary: String
    private let handle: FileHandle
    private var chunk: [UInt8] = []

    init(path: String) throws {
        self.path = path
        temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let h = FileHandle(forWritingAtPath: temporary) else {
            throw RecordError(file: path, line: 0, message: "cannot create \(temporary)")
        }
        handle = h
        chunk.reserveCapacity(4 << 20 + 4096)
    }

    /// Appends one line (`bytes` and a newline).
    mutating func append(line bytes: [UInt8]) throws {
        chunk += bytes
        chunk.append(0x0A)
        if chunk.count >= 4 << 20 { try flush() }
    }

    mutating func append(line bytes: UnsafeRawBufferPointer) throws {
        chunk.append(contentsOf: bytes)
        chunk.append(0x0A)
        if chunk.count >= 4 << 20 { try flush() }
    }

    mutating func append(line text: String) throws {
        chunk += text.utf8
        chunk.append(0x0A)
        if chunk.count >= 4 << 20 { try flush() }
    }

    private mutating func flush() throws {
        try handle.write(contentsOf: chunk)
        chunk.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, closes, and renames the temporary file over `path`.
    mutating func finish() throws {
        do {
            try flush()
            try handle.close()
        } catch {
            abandon()
            throw error
        }
        guard rename(temporary, path) == 0 else { throw RecordError(file: path, line: 0, message: "cannot rename \(temporary): errno \(errno)") }
    }

    /// Closes and removes the temporary file (after an error).
    func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}

/// Writes `lines` to `path` (see `LineFileWriter`).
func writeLines(_ lines: [String], to path: String) throws {
    var w = try LineFileWriter(path: path)
    do {
        for l in lines { try w.append(line: l) }
        try w.finish()
    } catch {
        w.abandon()
        throw error
    }
}
