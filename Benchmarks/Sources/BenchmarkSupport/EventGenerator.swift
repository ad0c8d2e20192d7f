import MeterlineCore

/// Deterministic generator of CloudEvents usage lines for the benchmarks (and for the orjson reference,
/// which reads the same lines from the file `writeLines` produces).
///
/// A line looks like
/// `{"specversion":"1.0","id":"<uuid>","source":"llm-proxy","type":"llm_tokens","subject":"us-cust-17",
///   "time":"2026-10-01T05:17:23.123456Z","datacontenttype":"application/json","data":{"tokens":1234,"model":"large"}}`
/// (one line, 210–230 bytes); about 10 % carry `tokens` as a numeric string ("1234").
public struct GeneratedEvents {
    /// One JSON document per element, without a trailing newline.
    public var lines: [[UInt8]]
    /// Subject index of each line (0..<subjects).
    public var subjects: [Int]
    /// How many lines are exact copies of an earlier line.
    public var duplicates: Int
}

public enum EventGenerator {
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)
    static let models = ["small", "medium", "large", "xlarge"]

    /// 2026-10-01T00:00:00Z in UTC microseconds.
    public static let startMicros: Int64 = 1_790_812_800 * 1_000_000

    static func pad(_ v: Int, _ width: Int, into out: inout [UInt8]) {
        var digits: [UInt8] = []
        var x = v
        for _ in 0..<width { digits.append(UInt8(ascii: "0") + UInt8(x % 10)); x /= 10 }
        out.append(contentsOf: digits.reversed())
    }

    /// `count` lines, event times spread evenly over `spanMicros` from 2026-10-01T00:00:00Z (± 1 s jitter,
    /// spans up to 30 days), `duplicateRate` of them exact copies of one of the previous 100 lines.
    public static func generate(count: Int, subjects: Int = 1_000, spanMicros: Int64 = 3_600_000_000,
                                duplicateRate: Double = 0, seed: UInt64 = 42) -> GeneratedEvents {
        var rng = SeededGenerator(seed: seed)
        var lines: [[UInt8]] = []
        var subjectOf: [Int] = []
        lines.reserveCapacity(count)
        var duplicates = 0
        for i in 0..<count {
            if duplicateRate > 0, i > 0, Double.random(in: 0..<1, using: &rng) < duplicateRate {
                let j = max(0, i - 1 - Int.random(in: 0..<100, using: &rng))
                lines.append(lines[j]); subjectOf.append(subjectOf[j]); duplicates += 1
                continue
            }
            var l: [UInt8] = []
            l.reserveCapacity(256)
            l += Array(#"{"specversion":"1.0","id":""#.utf8)
            for k in 0..<16 {
                if k == 4 || k == 6 || k == 8 || k == 10 { l.append(UInt8(ascii: "-")) }
                let b = UInt8.random(in: 0...255, using: &rng)
                l.append(hex[Int(b >> 4)]); l.append(hex[Int(b & 15)])
            }
            let subject = Int.random(in: 0..<subjects, using: &rng)
            l += Array(#"","source":"llm-proxy","type":"llm_tokens","subject":"us-cust-\#(subject)","time":""#.utf8)
            let jitter = Int64.random(in: -1_000_000...1_000_000, using: &rng)
            let t = max(0, spanMicros * Int64(i) / Int64(max(count, 1)) + jitter)
            let day = Int(t / 86_400_000_000), inDay = t % 86_400_000_000
            let sec = Int(inDay / 1_000_000), micro = Int(inDay % 1_000_000)
            l += Array("2026-10-".utf8); pad(1 + day, 2, into: &l); l.append(UInt8(ascii: "T"))
            pad(sec / 3600, 2, into: &l); l.append(UInt8(ascii: ":"))
            pad(sec / 60 % 60, 2, into: &l); l.append(UInt8(ascii: ":"))
            pad(sec % 60, 2, into: &l); l.append(UInt8(ascii: "."))
            pad(micro, 6, into: &l)
            let tokens = Int.random(in: 1...20_000, using: &rng)
            let tokenText = Int.random(in: 0..<10, using: &rng) == 0 ? "\"\(tokens)\"" : "\(tokens)"
            let model = models[Int.random(in: 0..<models.count, using: &rng)]
            l += Array(#"Z","datacontenttype":"application/json","data":{"tokens":\#(tokenText),"model":"\#(model)"}}"#.utf8)
            lines.append(l); subjectOf.append(subject)
        }
        return GeneratedEvents(lines: lines, subjects: subjectOf, duplicates: duplicates)
    }
}
