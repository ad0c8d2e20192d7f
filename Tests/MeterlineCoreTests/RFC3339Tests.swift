import Testing
@testable import MeterlineCore

/// DESIGN §2 (time: RFC 3339, kept to the microsecond, any offset normalised to UTC) and §4
/// (billing periods are calendar months in UTC unless a contract gives an anchor day).
@Suite struct RFC3339Tests {
    static let epoch2024: Int64 = 1_704_067_200_000_000   // 2024-01-01T00:00:00Z

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2024-01-01T00:00:00Z", epoch2024),
        ("2024-01-01T00:00:00.5Z", epoch2024 + 500_000),
        ("2024-01-01T00:00:00.000001Z", epoch2024 + 1),
        ("2024-01-01T00:00:00.123456789Z", epoch2024 + 123_456),   // truncated to µs
        ("2024-01-01T00:00:00.9999999Z", epoch2024 + 999_999),     // truncated, not rounded up
        ("2024-01-01t00:00:00z", epoch2024),
        ("2024-01-01 00:00:00Z", epoch2024),
        ("2024-01-01T02:00:00+02:00", epoch2024),
        ("2023-12-31T19:30:00-04:30", epoch2024),
        ("2024-01-01T00:00:00+00:00", epoch2024),
        ("2024-01-01T00:00:00-00:00", epoch2024),
        ("2024-03-01T01:00:00+02:00", 1_709_247_600_000_000),     // 2024-02-29T23:00:00Z
        ("1969-12-31T23:59:59.999999Z", -1),
        ("1900-03-01T00:00:00Z", -2_203_891_200_000_000),
        ("2000-02-29T12:00:00Z", 951_825_600_000_000),
    ] as [(String, Int64)])
    func parses(text: String, micros: Int64) {
        #expect(RFC3339.parseMicros(text) == micros, "\(text)")
    }

    @Test(arguments: [
        "2023-02-29T00:00:00Z",       // not a leap year
        "1900-02-29T00:00:00Z",       // century, not a leap year
        "2026-02-30T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",       // hour 24
        "2026-01-01T23:60:00Z",
        "2016-12-31T23:59:60Z",       // leap second
        "2026-01-01T00:00:00.1234567890Z", // 10 fractional digits
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00",        // no offset
        "2026-01-01T00:00:00.123",
        "2026-01-01T00:00:00+0200",
        "2026-01-01T00:00:00+02",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+02:60",
        "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z",
        "2026-01-01X00:00:00Z",
        "2026/01/01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "26-01-01T00:00:00Z",
        "2026-01-01",
        "",
        "2026-01-01T0a:00:00Z",
    ])
    func rejects(text: String) {
        #expect(RFC3339.parseMicros(text) == nil, "\(text)")
    }

    @Test func leapYears() {
        #expect(RFC3339.parseMicros("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parseMicros("2000-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parseMicros("2023-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parseMicros("2100-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parseMicros("2024-03-01T00:00:00Z")! - RFC3339.parseMicros("2024-02-28T00:00:00Z")! == 2 * UTC.microsPerDay)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (epoch2024, "2024-01-01T00:00:00Z"),
        (epoch2024 + 500_000, "2024-01-01T00:00:00.500000Z"),
        (epoch2024 + 1, "2024-01-01T00:00:00.000001Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (-1_000_000, "1969-12-31T23:59:59Z"),
        (-UTC.microsPerDay, "1969-12-31T00:00:00Z"),
        (1_709_164_800_000_000, "2024-02-29T00:00:00Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
    ] as [(Int64, String)])
    func formats(micros: Int64, text: String) {
        #expect(RFC3339.format(micros: micros) == text)
        #expect(RFC3339.parseMicros(text) == micros)
    }

    /// format ∘ parse round trip for random instants from year 0001 to 9999, and parse of a random
    /// offset rendering lands on the same instant.
    @Test func roundTripRandom() {
        let seed = testSeed(default: 0x5EED_3339)
        var g = SeededGenerator(seed: seed)
        let lo = RFC3339.parseMicros("0001-01-01T00:00:00Z")!
        let hi = RFC3339.parseMicros("9999-12-31T23:59:59.999999Z")!
        for _ in 0..<2_000 {
            let t = lo + Int64(g.below(UInt64(hi - lo + 1)))
            let text = RFC3339.format(micros: t)
            #expect(RFC3339.parseMicros(text) == t, "seed \(seed): \(t) → \(text)")
            // The same instant written with an offset: local = UTC + offset.
            let offsetMinutes = g.int(-23 * 60 ... 23 * 60)
            let local = t + Int64(offsetMinutes) * 60_000_000
            guard local >= lo, local <= hi else { continue }
            var localText = RFC3339.format(micros: local)
            localText.removeLast()   // "Z"
            let m = abs(offsetMinutes)
            let pad = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
            localText += (offsetMinutes < 0 ? "-" : "+") + pad(m / 60) + ":" + pad(m % 60)
            #expect(RFC3339.parseMicros(localText) == t, "seed \(seed): \(localText) should be \(text)")
        }
    }

    /// The memoized fast path (`parseMicros(_:memo:)`) must answer exactly what the general parser answers, whatever
    /// came before: runs of one minute and of one day, switches of either, and a remembered date and minute followed
    /// by a damaged timestamp.
    @Test func dateMemoNeverChangesAnAnswer() {
        let seed = testSeed(default: 0xDA7E_3E30)
        var g = SeededGenerator(seed: seed)
        var memo = RFC3339.DateMemo()
        var hits = 0
        let alphabet = Array("0123456789-:.TtZz+ x".utf8)
        var day = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        var minute: Int64 = 0
        for i in 0..<40_000 {
            if g.below(500) == 0 { day += Int64(g.int(-40 ... 40)) * 86_400_000_000 }
            if g.below(50) == 0 { minute = Int64(g.below(1_440)) * 60_000_000 }
            let t = day + minute + Int64(g.below(60_000_000))
            // Both fast-path layouts: with microseconds (27 bytes) and whole seconds (20 bytes).
            var text = Array(RFC3339.format(micros: g.below(4) == 0 ? t - t % 1_000_000 : t).utf8)
            // One in four is damaged: a byte replaced (in the date or the time of day), cut short or made longer.
            switch g.below(16) {
            case 0: text[Int(g.below(UInt64(text.count)))] = alphabet[Int(g.below(UInt64(alphabet.count)))]
            case 1: text[10 + Int(g.below(UInt64(text.count - 10)))] = alphabet[Int(g.below(UInt64(alphabet.count)))]
            case 2: text.removeLast(Int(g.below(3)))
            case 3: text.insert(alphabet[Int(g.below(UInt64(alphabet.count)))], at: 19)
            default: break
            }
            let (general, memoized) = text.withUnsafeBytes { b in
                let before = (memo.word0, memo.word1)
                let m = RFC3339.parseMicros(b, memo: &memo)
                if before == (memo.word0, memo.word1) && before.0 != 0 && m != nil { hits += 1 }
                return (RFC3339.parseGeneral(b), m)
            }
            #expect(memoized == general, "seed \(seed), event \(i): \(String(decoding: text, as: UTF8.self))")
        }
        #expect(hits > 25_000, "seed \(seed): the memo answered \(hits) times")
    }

    @Test func civilDaysRoundTrip() {
        for day in stride(from: -800_000, through: 3_000_000, by: 997) {
            let (y, m, d) = RFC3339.civilFromDays(day)
            #expect(RFC3339.daysFromCivil(year: y, month: m, day: d) == day)
        }
        #expect(RFC3339.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(RFC3339.daysFromCivil(year: 2024, month: 2, day: 29) == 19_782)
    }
}

@Suite struct BillingPeriodTests {
    func start(_ t: String, anchor: Int = 1) -> String {
        RFC3339.format(micros: UTC.periodStart(utc(t), anchorDay: anchor))
    }
    func end(_ t: String, anchor: Int = 1) -> String {
        RFC3339.format(micros: UTC.periodEnd(start: UTC.periodStart(utc(t), anchorDay: anchor), anchorDay: anchor))
    }

    @Test func calendarMonths() {
        #expect(start("2026-03-17T12:34:56Z") == "2026-03-01T00:00:00Z")
        #expect(end("2026-03-17T12:34:56Z") == "2026-04-01T00:00:00Z")
        #expect(start("2026-03-01T00:00:00Z") == "2026-03-01T00:00:00Z")            // start is inclusive
        #expect(start("2026-02-28T23:59:59.999999Z") == "2026-02-01T00:00:00Z")     // end is exclusive
        #expect(end("2026-02-28T23:59:59.999999Z") == "2026-03-01T00:00:00Z")
        #expect(start("2026-12-31T23:59:59Z") == "2026-12-01T00:00:00Z")
        #expect(end("2026-12-31T23:59:59Z") == "2027-01-01T00:00:00Z")              // year rollover
        #expect(end("2024-02-10T00:00:00Z") == "2024-03-01T00:00:00Z")
        #expect(start("1969-12-31T23:59:59Z") == "1969-12-01T00:00:00Z")
    }

    @Test func anchorDay15() {
        #expect(start("2026-03-10T00:00:00Z", anchor: 15) == "2026-02-15T00:00:00Z")
        #expect(end("2026-03-10T00:00:00Z", anchor: 15) == "2026-03-15T00:00:00Z")
        #expect(start("2026-03-15T00:00:00Z", anchor: 15) == "2026-03-15T00:00:00Z")
        #expect(start("2026-03-14T23:59:59.999999Z", anchor: 15) == "2026-02-15T00:00:00Z")
        #expect(start("2026-01-05T00:00:00Z", anchor: 15) == "2025-12-15T00:00:00Z")   // into the previous year
        #expect(end("2026-12-20T00:00:00Z", anchor: 15) == "2027-01-15T00:00:00Z")
    }

    /// Anchor 31: February's period starts on its last day (clamped), the next one on March 31.
    @Test func anchorDay31ClampsInShortMonths() {
        #expect(start("2026-02-10T00:00:00Z", anchor: 31) == "2026-01-31T00:00:00Z")
        #expect(end("2026-02-10T00:00:00Z", anchor: 31) == "2026-02-28T00:00:00Z")
        #expect(start("2026-02-28T00:00:00Z", anchor: 31) == "2026-02-28T00:00:00Z")
        #expect(end("2026-02-28T00:00:00Z", anchor: 31) == "2026-03-31T00:00:00Z")
        #expect(start("2026-03-30T00:00:00Z", anchor: 31) == "2026-02-28T00:00:00Z")
        #expect(start("2024-02-29T00:00:00Z", anchor: 31) == "2024-02-29T00:00:00Z")   // leap year
        #expect(end("2026-04-30T00:00:00Z", anchor: 31) == "2026-05-31T00:00:00Z")
        #expect(start("2026-02-28T00:00:00Z", anchor: 30) == "2026-02-28T00:00:00Z")
        #expect(start("2026-01-31T00:00:00Z", anchor: 30) == "2026-01-30T00:00:00Z")
    }

    /// Periods tile time: start ≤ t < end, and each period's end is the next period's start.
    @Test func periodsTileTime() {
        let seed = testSeed(default: 0x5EED_0004)
        var g = SeededGenerator(seed: seed)
        let lo = utc("1999-01-01T00:00:00Z"), hi = utc("2101-01-01T00:00:00Z")
        for _ in 0..<3_000 {
            let t = lo + Int64(g.below(UInt64(hi - lo)))
            let anchor = g.int(1...31)
            let s = UTC.periodStart(t, anchorDay: anchor)
            let e = UTC.periodEnd(start: s, anchorDay: anchor)
            let where_ = "seed \(seed): t \(RFC3339.format(micros: t)) anchor \(anchor) → [\(RFC3339.format(micros: s)), \(RFC3339.format(micros: e)))"
            #expect(s <= t && t < e, "\(where_)")
            #expect(s % UTC.microsPerDay == 0, "\(where_)")
            #expect(UTC.periodStart(e, anchorDay: anchor) == e, "\(where_)")
            #expect(UTC.periodStart(e - 1, anchorDay: anchor) == s, "\(where_)")
            #expect(e - s >= 28 * UTC.microsPerDay && e - s <= 31 * UTC.microsPerDay, "\(where_)")
        }
    }

    @Test func floorAlignsNegativeTimes() {
        #expect(UTC.floor(-1, UTC.microsPerHour) == -UTC.microsPerHour)
        #expect(UTC.floor(0, UTC.microsPerHour) == 0)
        #expect(UTC.floor(UTC.microsPerHour - 1, UTC.microsPerHour) == 0)
        #expect(UTC.floor(-UTC.microsPerHour, UTC.microsPerHour) == -UTC.microsPerHour)
    }
}
