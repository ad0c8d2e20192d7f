// MeterlineLineage — the lineage file format and all of Meterline's zstd access.
//
// Owns: the `.mlz` lineage file (writer, reader, byte layout in docs/lineage-format.md), the
// column codecs (varint, zigzag, decimal scale, UUID packing), checksums, and every call into
// libzstd (through `CZstd`, imported `internal` so no C type leaks into the public API).
//
// Must never import: any other Meterline module (Core, Pipeline, Config, Kafka, Ledger, Engine),
// CRdKafka, CPrefetch, or logging/metrics backends (CZstd is its only C module).
// Callers hand in plain strings and integers; this module knows nothing about meters, money or Kafka.
// File I/O is plain POSIX (open/pread/write/rename); its `DirectFileWriter` (past the page cache where the
// filesystem allows it) also writes the engine's line files (billing events, journal, DLQ).

/// One raw usage event that contributed to a rollup key.
///
/// Invariant: none beyond its fields; `value` is the caller's raw fixed-point integer (the file
/// stores the integer exactly, without interpreting the scale), `timeMicros` is UTC microseconds.
public struct LineageEvent: Equatable, Sendable {
    /// Event id; canonical UUID text (8-4-4-4-12 hex, all lower- or all upper-case) is packed to 16 bytes.
    public var id: String
    /// Input the event came from (Kafka partition like "usage-3", or an input file name).
    public var source: String
    /// Event time, UTC microseconds since the Unix epoch.
    public var timeMicros: Int64
    /// Raw fixed-point value (Meterline uses 9 fractional digits; stored as the bare integer).
    public var value: Int128
    /// Input offset (Kafka offset or line number).
    public var offset: Int64

    public init(id: String, source: String, timeMicros: Int64, value: Int128, offset: Int64) {
        self.id = id
        self.source = source
        self.timeMicros = timeMicros
        self.value = value
        self.offset = offset
    }
}

/// An operating error while writing or reading a lineage file.
///
/// Invariant: `file` always names the file (path or name) concerned, and `description` is
/// `"lineage file <file>: <message>"`. Programmer errors trap instead of throwing this.
public struct LineageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure; an extensible struct, not a public enum.
    ///
    /// Invariant: only the static constants below exist.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: UInt8, Sendable {
            case io, notFound, notLineage, unsupportedVersion, truncated, corrupt, checksumMismatch, compression
        }
        fileprivate let backing: Backing
        fileprivate init(_ backing: Backing) { self.backing = backing }

        /// A system call failed (open, read, write, rename, fsync).
        public static let io = Code(.io)
        /// The file does not exist.
        public static let notFound = Code(.notFound)
        /// The file does not start and end with the lineage magic.
        public static let notLineage = Code(.notLineage)
        /// The file is a lineage file of a version this reader does not know.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The file is shorter than its own trailer/footer say.
        public static let truncated = Code(.truncated)
        /// Structure is inconsistent (bad varint, counts, offsets, trailing bytes).
        public static let corrupt = Code(.corrupt)
        /// A footer or block checksum does not match its bytes.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// libzstd refused to compress or decompress.
        public static let compression = Code(.compression)

        public var description: String {
            switch backing {
            case .io: "io"
            case .notFound: "notFound"
            case .notLineage: "notLineage"
            case .unsupportedVersion: "unsupportedVersion"
            case .truncated: "truncated"
            case .corrupt: "corrupt"
            case .checksumMismatch: "checksumMismatch"
            case .compression: "compression"
            }
        }
    }

    public var file: String
    public var message: String
    public var code: Code

    public init(file: String, message: String, code: Code = .corrupt) {
        self.file = file
        self.message = message
        self.code = code
    }

    public var description: String { "lineage file \(file): \(message)" }
}
