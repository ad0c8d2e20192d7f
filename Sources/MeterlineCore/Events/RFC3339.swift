/// RFC 3339 timestamps → UTC microseconds since the Unix epoch.
/// Accepts any offset (`Z`, `z`, `±hh:mm`), `T`/`t`/space separators, and up to 9 fractional digits
/// (digits past the microsecond are truncated toward the past, so an event never moves forward in time).
/// Rejects impossible dates (Feb 30), hour 24 and leap seconds (`:60`).
public enum RFC3339 {
    @inlinable @inline(__always)
    static func digit(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        let c = b[i] &- 0x30
        return c < 10 ? Int(c) : nil
    }

    @inlinable
    static func two(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        guard let a = digit(b, i), let c = digit(b, i + 1) else { return nil }
        return a * 10 + c
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil algorithm).
    @inlinable
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number (inverse of `daysFromCivil`).
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    @inlinable
    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Parses `b`; nil when it is not a valid RFC 3339 date-time.
    @inlinable
    public static func parseMicros(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        if n == 27 || n == 20, let t = parseCommonUTC(b) { return t }
        return parseGeneral(b)
    }

    /// `parseMicros` without the fast path (the fuzz target compares the two).
    @inlinable
    static func parseGeneral(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n >= 20 else { return nil }
        guard let y1 = two(b, 0), let y2 = two(b, 2), b[4] == UInt8(ascii: "-"),
              let month = two(b, 5), b[7] == UInt8(ascii: "-"), let day = two(b, 8) else { return nil }
        let sep = b[10]
        guard sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ") else { return nil }
        guard let hour = two(b, 11), b[13] == UInt8(ascii: ":"), let minute = two(b, 14),
              b[16] == UInt8(ascii: ":"), let second = two(b, 17) else { return nil }
        let year = y1 * 100 + y2
        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year, month),
              hour <= 23, minute <= 59, second <= 59 else { return nil }
        var i = 19
        var micros = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < n, let d = digit(b, i) {
                if count < 6 { micros = micros * 10 + d }
                count += 1
                i += 1
            }
            guard count >= 1, count <= 9 else { return nil }
            var c = count
            while c < 6 { micros *= 10; c += 1 }
        }
        guard i < n else { return nil }
        var offsetSeconds = 0
        let z = b[i]
        if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
            i += 1
        } else if z == UInt8(ascii: "+") || z == UInt8(ascii: "-") {
            guard i + 6 <= n, let oh = two(b, i + 1), b[i + 3] == UInt8(ascii: ":"), let om = two(b, i + 4),
                  oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (z == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(seconds) * 1_000_000 + Int64(micros)
    }

    /// Bytewise `w − '0'` when every byte of `w` flagged in `digitMask` (0x80 per byte) is an ASCII digit, else nil.
    /// The other bytes (separators, checked by the caller) are replaced by '0' first, so that one below '0'
    /// cannot borrow from the digit above it.
    @inlinable @inline(__always)
    static func digits8(_ w: UInt64, _ digitMask: UInt64) -> UInt64? {
        let keep = (digitMask &>> 7) &* 0xFF
        let x = ((w & keep) | (0x3030_3030_3030_3030 & ~keep)) &- 0x3030_3030_3030_3030
        // A byte v of x is a digit iff v < 10: v + 0x76 then stays below 0x80. A borrow or carry can only
        // disturb bytes above a byte that is already flagged, so "no flags" is exact.
        return ((x &+ 0x7676_7676_7676_7676) | x) & digitMask == 0 ? x : nil
    }

    @inlinable @inline(__always)
    static func byte(_ x: UInt64, _ k: Int) -> Int { Int(truncatingIfNeeded: (x &>> UInt64(k &* 8)) & 0xFF) }

    /// The date and minute of the last timestamp `parseMicros(_:memo:)` took by its fast path: consecutive events
    /// of one producer almost always share the minute, so the date and the hour and minute are validated and
    /// converted once per minute, not once per event.
    /// Invariant: when `word0 != 0`, the 16 bytes `YYYY-MM-DDThh:mm` held by `word0` and `word1` are a valid date
    /// and time of day in the fast-path layout, `days` is that date's day number and `minuteMicros` the instant of
    /// the minute they name.
    public struct DateMemo: Sendable {
        @usableFromInline var word0: UInt64 = 0
        @usableFromInline var word1: UInt64 = 0
        @usableFromInline var days = 0
        @usableFromInline var minuteMicros: Int64 = 0
        @inlinable public init() {}
    }

    /// `parseMicros(_:)`, remembering the last fast-path date and minute in `memo` (the same result for every input).
    @inlinable
    public static func parseMicros(_ b: UnsafeRawBufferPointer, memo: inout DateMemo) -> Int64? {
        let n = b.count
        if n == 27 || n == 20 {
            let w0 = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            let w1 = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            if w0 != memo.word0 || memo.word0 == 0 || UInt16(truncatingIfNeeded: w1) != UInt16(truncatingIfNeeded: memo.word1) {
                // Another day: validate it (and the minute) in full, or leave the answer to the general parser.
                if let days = commonDate(w0, w1), let minute = commonMinute(w1) {
                    memo.word0 = w0; memo.word1 = w1; memo.days = days
                    memo.minuteMicros = Int64(days) &* 86_400_000_000 &+ minute
                } else {
                    return parseGeneral(b)
                }
            } else if w1 != memo.word1 {
                // The same day, another minute.
                guard let minute = commonMinute(w1) else { return parseGeneral(b) }
                memo.word1 = w1
                memo.minuteMicros = Int64(memo.days) &* 86_400_000_000 &+ minute
            }
            if let micros = commonSeconds(b) { return memo.minuteMicros &+ micros }
        }
        return parseGeneral(b)
    }

    /// The layouts producers send almost always, `YYYY-MM-DDThh:mm:ss.ffffffZ` (27 bytes) and `YYYY-MM-DDThh:mm:ssZ`
    /// (20 bytes), checked with three word loads. Nil when `b` is not exactly one of them (the general parser decides).
    @inlinable
    static func parseCommonUTC(_ b: UnsafeRawBufferPointer) -> Int64? {
        let w0 = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let w1 = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard let days = commonDate(w0, w1), let minute = commonMinute(w1), let micros = commonSeconds(b) else { return nil }
        return Int64(days) * 86_400_000_000 + minute + micros
    }

    /// The day number of the date `YYYY-MM-DD` in the first 10 bytes of a fast-path timestamp (`w0`: bytes 0..<8,
    /// `w1`: bytes 8..<16); nil when those bytes are not a valid date in that layout.
    @inlinable @inline(__always)
    static func commonDate(_ w0: UInt64, _ w1: UInt64) -> Int? {
        // "YYYY-MM-": '-' at bytes 4 and 7; "DD" at bytes 0 and 1 of w1.
        guard w0 & 0xFF00_00FF_0000_0000 == 0x2D00_002D_0000_0000,
              let x0 = digits8(w0, 0x0080_8000_8080_8080), let x1 = digits8(w1, 0x0000_0000_0000_8080) else { return nil }
        let year = ((byte(x0, 0) &* 10 &+ byte(x0, 1)) &* 10 &+ byte(x0, 2)) &* 10 &+ byte(x0, 3)
        let month = byte(x0, 5) &* 10 &+ byte(x0, 6)
        let day = byte(x1, 0) &* 10 &+ byte(x1, 1)
        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year, month) else { return nil }
        return daysFromCivil(year: year, month: month, day: day)
    }

    /// Microseconds from midnight to the minute `Thh:mm` at bytes 10..<16 of a fast-path timestamp (`w1`: bytes
    /// 8..<16); nil when those bytes are not that layout or not a valid hour and minute.
    @inlinable @inline(__always)
    static func commonMinute(_ w1: UInt64) -> Int64? {
        // "DDThh:mm": 'T' at byte 2, ':' at byte 5.
        guard w1 & 0x0000_FF00_00FF_0000 == 0x0000_3A00_0054_0000, let x1 = digits8(w1, 0x8080_0080_8000_0000) else { return nil }
        let hour = byte(x1, 3) &* 10 &+ byte(x1, 4)
        let minute = byte(x1, 6) &* 10 &+ byte(x1, 7)
        guard hour <= 23, minute <= 59 else { return nil }
        return Int64(hour &* 60 &+ minute) &* 60_000_000
    }

    /// Microseconds from the minute of the `:ss[.ffffff]Z` part (bytes 16..<n) of a fast-path timestamp of 20 or 27
    /// bytes; nil when it is not exactly that layout or not a valid second.
    @inlinable @inline(__always)
    static func commonSeconds(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard b[16] == UInt8(ascii: ":") else { return nil }
        let s1 = Int(b[17]) &- 0x30, s2 = Int(b[18]) &- 0x30
        guard UInt(bitPattern: s1) < 10, UInt(bitPattern: s2) < 10 else { return nil }
        var micros = 0
        if n == 27 {
            // ".ffffffZ" at bytes 19..<27.
            let w2 = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 19, as: UInt64.self))
            guard w2 & 0xFF00_0000_0000_00FF == 0x5A00_0000_0000_002E, let x2 = digits8(w2, 0x0080_8080_8080_8000) else { return nil }
            micros = ((((byte(x2, 1) &* 10 &+ byte(x2, 2)) &* 10 &+ byte(x2, 3)) &* 10 &+ byte(x2, 4)) &* 10 &+ byte(x2, 5)) &* 10 &+ byte(x2, 6)
        } else {
            guard b[19] == UInt8(ascii: "Z") else { return nil }
        }
        let second = s1 &* 10 &+ s2
        guard second <= 59 else { return nil }
        return Int64(second) &* 1_000_000 &+ Int64(micros)
    }

    /// Formats UTC microseconds as `YYYY-MM-DDThh:mm:ssZ`, with `.ffffff` only when micros are non-zero.
    public static func format(micros: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        append(micros: micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `format(micros:)` as UTF-8 to `out` (no intermediate strings).
    public static func append(micros: Int64, to out: inout [UInt8]) {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        let written = withUnsafeMutableBytes(of: &buffer) { b -> Bool in
            guard let n = writeUsualRange(micros: micros, to: b.baseAddress!) else { return false }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[0..<n]))
            return true
        }
        if !written { appendGeneral(micros: micros, to: &out) }
    }

    /// The longest text `format(micros:)` gives for an `Int64` (a six-digit negative year, with microseconds).
    public static let maxFormattedCount = 40

    /// Writes `format(micros:)` as UTF-8 at `p` (room for `maxFormattedCount` bytes); returns its length.
    public static func write(micros: Int64, to p: UnsafeMutableRawPointer) -> Int {
        if let n = writeUsualRange(micros: micros, to: p) { return n }
        var out: [UInt8] = []
        appendGeneral(micros: micros, to: &out)
        out.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return out.count
    }

    /// `write(micros:to:)` for years 0000 through 9999, digits stored directly; nil for other years.
    @inline(__always)
    static func writeUsualRange(micros: Int64, to p: UnsafeMutableRawPointer) -> Int? {
        // Floor divisions written with quotient and remainder, so Int64.min cannot overflow.
        let (q, r) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let totalSeconds = r < 0 ? q - 1 : q
        let frac = Int(r < 0 ? r + 1_000_000 : r)
        let (dq, dr) = totalSeconds.quotientAndRemainder(dividingBy: 86_400)
        let days = Int(dr < 0 ? dq - 1 : dq)
        let secOfDay = Int(dr < 0 ? dr + 86_400 : dr)
        let (y, m, d) = civilFromDays(days)
        guard y >= 0 && y <= 9999 else { return nil }
        @inline(__always) func put(_ c: UInt8, _ at: Int) { p.storeBytes(of: c, toByteOffset: at, as: UInt8.self) }
        @inline(__always) func digits(_ v: Int, _ width: Int, _ at: Int) {
            var x = v
            var i = at &+ width
            while i > at { i &-= 1; put(UInt8(truncatingIfNeeded: x % 10) &+ 0x30, i); x /= 10 }
        }
        digits(y, 4, 0); put(UInt8(ascii: "-"), 4); digits(m, 2, 5); put(UInt8(ascii: "-"), 7); digits(d, 2, 8)
        put(UInt8(ascii: "T"), 10)
        digits(secOfDay / 3600, 2, 11); put(UInt8(ascii: ":"), 13); digits(secOfDay / 60 % 60, 2, 14); put(UInt8(ascii: ":"), 16)
        digits(secOfDay % 60, 2, 17)
        guard frac != 0 else { put(UInt8(ascii: "Z"), 19); return 20 }
        put(UInt8(ascii: "."), 19); digits(frac, 6, 20); put(UInt8(ascii: "Z"), 26)
        return 27
    }

    /// `append(micros:to:)` for any year (the general digit loop; years outside 0000...9999 take this path).
    static func appendGeneral(micros: Int64, to out: inout [UInt8]) {
        // Floor divisions written with quotient and remainder, so Int64.min cannot overflow.
        let (q, r) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let totalSeconds = r < 0 ? q - 1 : q
        let frac = Int(r < 0 ? r + 1_000_000 : r)
        let (dq, dr) = totalSeconds.quotientAndRemainder(dividingBy: 86_400)
        let days = Int(dr < 0 ? dq - 1 : dq)
        let secOfDay = Int(dr < 0 ? dr + 86_400 : dr)
        let (y, m, d) = civilFromDays(days)
        @inline(__always) func pad(_ v: Int, _ w: Int) {
            if v < 0 || w > 6 || v >= 1_000_000 {
                // Out of the usual range (years before 0 or after 9999): as `String(v)`, zero-padded.
                let s = Array(String(v).utf8)
                if s.count < w { for _ in 0..<(w - s.count) { out.append(UInt8(ascii: "0")) } }
                out.append(contentsOf: s)
                return
            }
            var digits = 1, p = 10
            while p <= v { digits += 1; p *= 10 }
            if digits < w { for _ in 0..<(w - digits) { out.append(UInt8(ascii: "0")) } }
            var div = p / 10
            while div > 0 { out.append(UInt8(truncatingIfNeeded: v / div % 10) + 0x30); div /= 10 }
        }
        pad(y, 4); out.append(UInt8(ascii: "-")); pad(m, 2); out.append(UInt8(ascii: "-")); pad(d, 2)
        out.append(UInt8(ascii: "T"))
        pad(secOfDay / 3600, 2); out.append(UInt8(ascii: ":")); pad(secOfDay / 60 % 60, 2); out.append(UInt8(ascii: ":")); pad(secOfDay % 60, 2)
        if frac != 0 { out.append(UInt8(ascii: ".")); pad(frac, 6) }
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses a Swift string (config values, CLI flags).
    public static func parseMicros(_ s: String) -> Int64? {
        var copy = s
        return copy.withUTF8 { parseMicros(UnsafeRawBufferPointer($0)) }
    }
}

/// Calendar helpers on UTC microseconds.
public enum UTC {
    public static let microsPerHour: Int64 = 3_600_000_000
    public static let microsPerDay: Int64 = 86_400_000_000

    @inlinable public static func floor(_ t: Int64, _ unit: Int64) -> Int64 {
        t >= 0 ? t - t % unit : t - ((t % unit) + unit) % unit
    }

    /// The start of the calendar month containing `t` (or of the anchored month when `anchorDay` > 1).
    public static func periodStart(_ t: Int64, anchorDay: Int = 1) -> Int64 {
        let day = Int(floor(t, microsPerDay) / microsPerDay)
        var (y, m, d) = RFC3339.civilFromDays(day)
        let a = anchorDay
        if d < min(a, RFC3339.daysInMonth(y, m)) {
            m -= 1
            if m == 0 { m = 12; y -= 1 }
        }
        let startDay = min(a, RFC3339.daysInMonth(y, m))
        return Int64(RFC3339.daysFromCivil(year: y, month: m, day: startDay)) * microsPerDay
    }

    /// The end (exclusive) of the period that starts at `start`.
    public static func periodEnd(start: Int64, anchorDay: Int = 1) -> Int64 {
        let (y, m, _) = RFC3339.civilFromDays(Int(start / microsPerDay))
        var ny = y, nm = m + 1
        if nm == 13 { nm = 1; ny += 1 }
        let d = min(anchorDay, RFC3339.daysInMonth(ny, nm))
        return Int64(RFC3339.daysFromCivil(year: ny, month: nm, day: d)) * microsPerDay
    }
}
