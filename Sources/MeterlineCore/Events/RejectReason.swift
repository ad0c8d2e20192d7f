/// Why an input message was not accepted. A closed list: every DLQ record carries one of these.
public enum RejectReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case malformedJSON
    case missingField
    case badSpecVersion
    case badTime
    case futureTime
    case unknownMeter
    case badValue
    case tooLarge
    case tooDeep
    case latePeriodClosed
    case noContract
    case duplicate

    /// The reason code as it appears in DLQ records and metrics.
    public var code: String {
        switch self {
        case .malformedJSON: "MALFORMED_JSON"
        case .missingField: "MISSING_FIELD"
        case .badSpecVersion: "BAD_SPECVERSION"
        case .badTime: "BAD_TIME"
        case .futureTime: "FUTURE_TIME"
        case .unknownMeter: "UNKNOWN_METER"
        case .badValue: "BAD_VALUE"
        case .tooLarge: "TOO_LARGE"
        case .tooDeep: "TOO_DEEP"
        case .latePeriodClosed: "LATE_PERIOD_CLOSED"
        case .noContract: "NO_CONTRACT"
        case .duplicate: "DUPLICATE"
        }
    }
    public var description: String { code }
}

/// A rejection: the reason code and a human message. Messages are built only on the reject path.
public struct Rejection: Error, Sendable, Equatable {
    public var reason: RejectReason
    public var message: String
    public init(_ reason: RejectReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// Configurable input limits (DESIGN §2).
public struct EventLimits: Sendable, Equatable {
    public var maxMessageBytes: Int = 64 * 1024
    public var maxDepth: Int = 32
    public var maxIdentifierBytes: Int = 256
    /// How far in the future of processing time an event's `time` may lie, in microseconds.
    public var maxFutureMicros: Int64 = 5 * 60 * 1_000_000
    public init() {}
}
