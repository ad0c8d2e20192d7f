import Foundation
import MeterlineCore
import MeterlineLedger
import MeterlineLineage

/// Writes a file of lines through a temporary file (`<path>.tmp`) renamed over `path` by `finish()`, in 4 MiB
/// chunks, so no output is ever held whole in memory (nor passed as one `Data`: this Foundation corrupted
/// bytes past 2 GiB in a single `Data`) and a reader never sees a half-written file at `path`. The chunks go out
/// through `DirectFileWriter`: past the kernel's page cache where the filesystem allows it (a backfill's
/// billing-events file is hundreds of MB, written once at the end and rarely read back soon).
///
/// Invariant: `path` holds either its previous content or every line appended, never a prefix; the file is on the
/// device (`fsync`) before it is renamed, so a crash cannot leave the name with fewer bytes behind it.
struct LineFileWriter {
    let path: String
    let temporary: String
    private let file: DirectFileWriter

    init(path: String) throws {
        self.path = path
        temporary = path + ".tmp"
        do {
            file = try DirectFileWriter(path: temporary, reportedAs: path)
        } catch {
            throw RecordError(file: path, line: 0, message: "cannot create \(temporary): \(error.message)")
        }
    }

    /// Appends one line (`bytes` and a newline).
    func append(line bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append(line: $0) }
    }

    func append(line bytes: UnsafeRawBufferPointer) throws {
        do {
            try file.append(bytes)
            try file.append(byte: 0x0A)
        } catch {
            throw RecordError(file: path, line: 0, message: error.message)
        }
    }

    /// Appends bytes as they are (whole lines, newlines included).
    func append(raw bytes: UnsafeRawBufferPointer) throws {
        do {
            try file.append(bytes)
        } catch {
            throw RecordError(file: path, line: 0, message: error.message)
        }
    }

    func append(line text: String) throws {
        var text = text
        try text.withUTF8 { try append(line: UnsafeRawBufferPointer($0)) }
    }

    /// Writes what is buffered, syncs it to the device, closes, and renames the temporary file over `path`.
    func finish() throws {
        do {
            try file.finish(sync: true)
        } catch {
            abandon()
            throw RecordError(file: path, line: 0, message: error.message)
        }
        guard rename(temporary, path) == 0 else { throw RecordError(file: path, line: 0, message: "cannot rename \(temporary): errno \(errno)") }
    }

    /// Closes and removes the temporary file (after an error).
    func abandon() {
        file.abandon()
    }
}

/// Writes `lines` to `path` (see `LineFileWriter`).
func writeLines(_ lines: [String], to path: String) throws {
    let w = try LineFileWriter(path: path)
    do {
        for l in lines { try w.append(line: l) }
        try w.finish()
    } catch {
        w.abandon()
        throw error
    }
}

/// Writes journal entries to `path`, one JSON line each (see `LineFileWriter`), encoded by two threads: entries
/// go in rounds of `2 × run`, each half encoded into its own buffer at once, then both written in order. A
/// backfill of many customers has tens of MB of journal lines, written last, while the other core is idle.
func writeJournal(_ entries: [JournalEntry], to path: String, run: Int = 128) throws {
    let w = try LineFileWriter(path: path)
    do {
        try entries.withUnsafeBufferPointer { all in
            let source = UnsafeEntries(base: all)
            let buffers = [JournalBuffer(), JournalBuffer()]
            var lo = 0
            while lo < all.count {
                let start = lo
                DispatchQueue.concurrentPerform(iterations: 2) { half in
                    let buffer = buffers[half]
                    buffer.bytes.removeAll()
                    let from = min(start + half * run, source.base.count), to = min(from + run, source.base.count)
                    var json = JSONWriter()
                    for i in from..<to {
                        json.reset()
                        JournalEntry.writeJSON(source.base.baseAddress! + i, to: &json)
                        json.output.withUnsafeBytes { buffer.bytes.append($0) }
                        buffer.bytes.append(0x0A)
                    }
                }
                for b in buffers { try b.bytes.withUnsafeBytes { try w.append(raw: $0) } }
                lo += 2 * run
            }
        }
        try w.finish()
    } catch {
        w.abandon()
        throw error
    }
}

/// One half's encoded lines in `writeJournal`: only its `concurrentPerform` iteration writes it.
private final class JournalBuffer: @unchecked Sendable {
    var bytes = GrowableBytes(capacity: 1 << 16)
}

/// The entries `writeJournal`'s encoders read (read only while it runs).
private struct UnsafeEntries: @unchecked Sendable { let base: UnsafeBufferPointer<JournalEntry> }
