/// A customer contract: who pays, through which legal entity, on which price book.
/// Invariant: `billingAnchorDay` in 1...31.
public struct Contract: Sendable, Equatable {
    public var subject: String
    public var entity: String
    public var priceBook: String
    public var billingAnchorDay: Int
    public init(subject: String, entity: String, priceBook: String, billingAnchorDay: Int = 1) {
        precondition((1...31).contains(billingAnchorDay))
        self.subject = subject
        self.entity = entity
        self.priceBook = priceBook
        self.billingAnchorDay = billingAnchorDay
    }
}

/// A legal entity that books revenue, with its ledger accounts.
/// Invariant: `revenueByMeter` overrides `usageRevenue` per meter slug.
public struct LegalEntity: Sendable, Equatable {
    public var id: String
    public var currency: Currency
    public var unbilledReceivable: String
    public var usageRevenue: String
    public var revenueByMeter: [String: String]
    /// ERP names, e.g. NetSuite subsidiary, Oracle ledger, SAP company code.
    public var erp: [String: String]
    public init(id: String, currency: Currency, unbilledReceivable: String, usageRevenue: String,
                revenueByMeter: [String: String] = [:], erp: [String: String] = [:]) {
        self.id = id
        self.currency = currency
        self.unbilledReceivable = unbilledReceivable
        self.usageRevenue = usageRevenue
        self.revenueByMeter = revenueByMeter
        self.erp = erp
    }
    public func revenueAccount(meter: String) -> String { revenueByMeter[meter] ?? usageRevenue }
}

/// Journal line granularity.
public enum JournalDetail: String, Sendable {
    case customer, summary
}

/// Timing and rounding settings of a run. All durations in microseconds.
public struct EngineSettings: Sendable, Equatable {
    public var allowedLatenessMicros: Int64 = 5 * 60 * 1_000_000
    /// How long after a period's end late events still revise it.
    public var correctionHorizonMicros: Int64 = 3 * UTC.microsPerDay
    public var dedupHorizonMicros: Int64 = 35 * UTC.microsPerDay
    public var idleTimeoutMicros: Int64 = 30 * 1_000_000
    public var rounding: RoundingMode = .halfAwayFromZero
    public var journalDetail: JournalDetail = .customer
    /// Posting interval of journal entries (default: one UTC day).
    public var postingIntervalMicros: Int64 = UTC.microsPerDay
    /// Also write each duplicate to the DLQ (reason DUPLICATE, with its bytes); they are always counted.
    public var duplicatesToDLQ = false
    public var limits = EventLimits()
    public init() {}
}

/// Everything a run is configured with: meters, price books, contracts, entities, settings.
/// Invariant: built by the config loader, which checks cross-references (every contract's entity and
/// price book exist; every price's meter exists).
public struct Configuration: Sendable {
    public var meters: [Meter]
    public var priceBooks: PriceCatalog
    public var contracts: [Contract]
    public var entities: [LegalEntity]
    public var settings: EngineSettings
    /// librdkafka properties passed through.
    public var kafka: [String: String]
    public var topics: Topics

    /// Topic names of a run.
    public struct Topics: Sendable, Equatable {
        public var usage = "usage", billing = "billing", journal = "journal", dlq = "dlq", state = "state"
        public init() {}
    }

    public init(meters: [Meter], priceBooks: [PriceBook], contracts: [Contract], entities: [LegalEntity],
                settings: EngineSettings = EngineSettings(), kafka: [String: String] = [:], topics: Topics = Topics()) {
        self.meters = meters
        self.priceBooks = PriceCatalog(priceBooks)
        self.contracts = contracts
        self.entities = entities
        self.settings = settings
        self.kafka = kafka
        self.topics = topics
    }

    public func entity(_ id: String) -> LegalEntity? { entities.first { $0.id == id } }
}
