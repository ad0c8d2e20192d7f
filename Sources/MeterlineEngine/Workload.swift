// MeterlineEngine — wires a run: the streaming engine over Kafka (embedded mock cluster or real
// brokers), output files, lineage files, the synthetic workload.
//
// Owns: run orchestration, checkpoint cadence, Kafka topic layout, out/ files, summaries.
// Must never import: CRdKafka or CZstd directly (only through MeterlineKafka / MeterlineLineage).
import MeterlineCore

/// A synthetic usage workload: CloudEvents JSON lines for `customers` subjects over `hours` hours,
/// with exact duplicates, late events, malformed JSON and unknown event types mixed in at fixed rates.
/// Invariant: the same parameters give byte-identical messages in the same order.
public struct Workload: Sendable {
    public var events: Int
    public var seed: UInt64 = 42
    public var start: Int64 = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
    public var hours: Int = 24
    public var customersPerEntity: Int = 1000
    /// Rates per million.
    public var duplicatePerMillion = 5_000
    public var latePerMillion = 1_000
    public var malformedPerMillion = 500
    public var unknownTypePerMillion = 500

    public init(events: Int) { self.events = events }

    /// One generated message: Kafka key (subject) and value (JSON bytes).
    public struct Message: Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        public var timestampMs: Int64
        public init(key: [UInt8], value: [UInt8], timestampMs: Int64) {
            self.key = key; self.value = value; self.timestampMs = timestampMs
        }
    }

    static func uuid(_ g: inout SeededGenerator) -> String {
        let a = g.next(), b = g.next()
        return String(unsafeUninitializedCapacity: 36) { out in
            let hex: StaticString = "0123456789abcdef"
            var o = 0
            for i in 0..<32 {
                if i == 8 || i == 12 || i == 16 || i == 20 { out[o] = UInt8(ascii: "-"); o += 1 }
                let word = i < 16 ? a : b
                var nib = Int((word >> UInt64((i % 16) * 4)) & 15)
                if i == 12 { nib = 4 }
                if i == 16 { nib = 8 | (nib & 3) }
                out[o] = hex.utf8Start[nib]
                o += 1
            }
            return o
        }
    }

    /// Generates all messages, calling `body` for each in order.
    public func generate(_ body: (Message) throws -> Void) rethrows {
        var g = SeededGenerator(seed: seed)
        let span = Int64(hours) * UTC.microsPerHour
        let models = ["small", "large"]
        var recent: [Message] = []
        for i in 0..<events {
            let roll = Int(g.next() % 1_000_000)
            let base = start + span * Int64(i) / Int64(max(events, 1))
            // Duplicates: resend a recent message byte for byte (a producer retry).
            if roll < duplicatePerMillion, let dup = recent.randomElement(using: &g) {
                try body(dup)
                continue
            }
            let customer = Int(g.next() % UInt64(customersPerEntity * 2))
            let subject = customer % 2 == 0 ? "us-cust-\(customer / 2)" : "eu-cust-\(customer / 2)"
            var t = base + Int64(g.next() % 60_000_000) // jitter within a minute
            if roll < duplicatePerMillion + latePerMillion { t -= 2 * UTC.microsPerHour } // late: two hours behind
            let time = RFC3339.format(micros: t - t % 1 )
            let id = Workload.uuid(&g)
            var json: String
            let kindRoll = g.next() % 4
            if roll >= 1_000_000 - malformedPerMillion {
                json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"gateway\",\"type\":\"api_request\",\"subject\":\"\(subject)\",\"time\":\"\(time)\",\"data\":{"
            } else if roll >= 1_000_000 - malformedPerMillion - unknownTypePerMillion {
                json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"gateway\",\"type\":\"image_render\",\"subject\":\"\(subject)\",\"time\":\"\(time)\",\"data\":{\"pixels\":1024}}"
            } else if kindRoll == 0 {
                json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"gateway\",\"type\":\"api_request\",\"subject\":\"\(subject)\",\"time\":\"\(time)\",\"data\":{\"route\":\"/v1/chat\",\"status\":200}}"
            } else {
                let tokens = 1 + g.next() % 4000
                let model = models[Int(g.next() % 2)]
                let value = kindRoll == 1 ? "\"\(tokens)\"" : "\(tokens)"
                json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"llm-proxy\",\"type\":\"llm_tokens\",\"subject\":\"\(subject)\",\"time\":\"\(time)\",\"datacontenttype\":\"application/json\",\"data\":{\"tokens\":\(value),\"model\":\"\(model)\"}}"
            }
            let m = Message(key: Array(subject.utf8), value: Array(json.utf8), timestampMs: t / 1000)
            if recent.count < 64 { recent.append(m) } else { recent[Int(g.next() % 64)] = m }
            try body(m)
        }
    }
}
