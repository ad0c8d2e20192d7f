import Foundation
@testable import MeterlineCore
import Testing

@Suite struct JSONWriterTests {
    /// Escapes, nesting and typed fields; the output parses back to the values written.
    @Test func escapesNestsAndParsesBack() throws {
        let nasty = "q\"b\\s/\n\r\t\u{01}\u{1F}é🚀"
        var w = JSONWriter()
        w.beginObject()
        w.field("s", nasty)
        w.field("n", -42)
        w.key("arr"); w.beginArray()
        for i in 0..<3 { w.element(); w.beginObject(); w.field("i", i); w.field("q", Quantity(raw: -1_500_000_000)); w.endObject() }
        w.endArray()
        w.field("a", Amount(raw: 1))
        w.field("t", micros: 1_790_812_800_000_001)
        w.key("empty"); w.beginObject(); w.endObject()
        w.key("z"); w.null()
        w.endObject()
        #expect(w.text == #"{"s":"q\"b\\s/\n\r\t\u0001\u001fé🚀","n":-42,"arr":[{"i":0,"q":"-1.5"},{"i":1,"q":"-1.5"},{"i":2,"q":"-1.5"}],"a":"0.000000000001","t":"2026-10-01T00:00:00.000001Z","empty":{},"z":null}"#)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        #expect(o["s"] as? String == nasty)
        #expect((o["arr"] as? [Any])?.count == 3)
    }

    /// Member names that are data (`key(text:)`, `field(text:_:)`) are escaped like values; literal names are
    /// copied as written.
    @Test func namesGivenAsTextAreEscaped() {
        var w = JSONWriter()
        w.beginObject()
        w.field(text: "model \"x\"\n", "large")
        w.field(text: "count", 3)
        w.key(text: "ünï"); w.beginArray(); w.endArray()
        w.field("plain", "v")
        w.field("é", 1)
        w.field(StaticString(unicodeScalarLiteral: "ß"), 2)  // a StaticString without UTF-8 bytes (made from a scalar)
        w.endObject()
        #expect(w.text == #"{"model \"x\"\n":"large","count":3,"ünï":[],"plain":"v","é":1,"ß":2}"#)
    }

    /// A string written from two parts and a separator is the string of their concatenation, escapes included.
    @Test func twoPartStringsEqualTheirConcatenation() {
        let parts = ["", "lineage/p0", "q\"b\\s\n\u{01}é🚀", "tokens|h|2026-10-01T00:00:00Z|model=\"x\"", String(repeating: "k", count: 40)]
        for a in parts {
            for b in parts {
                var joined = JSONWriter(), split = JSONWriter()
                joined.beginArray(); joined.element(); joined.string(a + "#" + b); joined.endArray()
                split.beginArray(); split.element(); split.string(a, "#", b); split.endArray()
                #expect(split.text == joined.text, "parts \(a.debugDescription) and \(b.debugDescription)")
            }
        }
    }

    /// Times come from a memo of recent values (`TimeMemo`): a writer that writes many times, with repeats and
    /// values colliding in its slots, must write each exactly as `RFC3339.format(micros:)` does, over documents.
    @Test func rememberedTimesAreWrittenAsFormatted() {
        let seed = testSeed(default: 0x71_3E30)
        var g = SeededGenerator(seed: seed)
        var recent: [Int64] = [0]
        var w = JSONWriter()
        for doc in 0..<2_000 {
            w.reset()
            w.beginObject()
            var expected = "{"
            for f in 0..<8 {
                let micros: Int64 = switch g.below(4) {
                case 0: recent[Int(g.below(UInt64(recent.count)))]                     // a repeat
                case 1: Int64(g.below(200)) * UTC.microsPerHour + 1_790_000_000_000_000  // hours of one year
                case 2: Int64(bitPattern: g.next()) % 400_000_000_000_000_000            // any year, fractions
                default: Int64(bitPattern: g.next())                                    // beyond 0000...9999 too
                }
                recent.append(micros)
                if recent.count > 64 { recent.removeFirst() }
                w.field("t", micros: micros)
                expected += (f == 0 ? "" : ",") + #""t":""# + RFC3339.format(micros: micros) + #"""#
            }
            w.endObject()
            #expect(w.text == expected + "}", "seed \(seed), document \(doc)")
            if w.text != expected + "}" { break }
        }
    }
}

/// The in-place writers behind `JSONWriter` must give exactly the text of the general formatting code.
@Suite struct InPlaceFormattingTests {
    /// Decimals: reference text built from the magnitude's digits (`String(_:)`), a point inserted, trailing zeros cut.
    @Test func decimalsMatchTheirDigits() {
        let seed = testSeed(default: 0xDEC1_3A15)
        var g = SeededGenerator(seed: seed)
        for i in 0..<20_000 {
            let scale = i % 3 == 0 ? 9 : i % 3 == 1 ? 12 : g.int(0 ... 38)
            // Small, 64-bit and 128-bit magnitudes, with runs of zeros in the fraction.
            var raw: Int128 = switch g.below(4) {
            case 0: Int128(g.below(1_000_000))
            case 1: Int128(g.next() >> 1)
            case 2: g.below128(Int128.max)
            default: Int128(g.below(1_000)) * FixedPoint.pow10(min(scale, 30))
            }
            if g.below(2) == 0 { raw = -raw }
            let digits = String(raw.magnitude)
            let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
            var intPart = String(padded.dropLast(scale)), frac = String(padded.suffix(scale))
            while frac.last == "0" { frac.removeLast() }
            if intPart.isEmpty { intPart = "0" }
            let expected = raw == 0 ? "0" : (raw < 0 ? "-" : "") + intPart + (frac.isEmpty ? "" : "." + frac)
            var buffer = [UInt8](repeating: 0, count: FixedPoint.maxFormattedCount)
            let n = buffer.withUnsafeMutableBytes { FixedPoint.write(raw, scale: scale, to: $0.baseAddress!) }
            #expect(String(decoding: buffer[0..<n], as: UTF8.self) == expected, "seed \(seed): raw \(raw), scale \(scale)")
        }
    }

    /// Times: the in-place writer against the general digit loop, over the whole Int64 range and near the usual years.
    @Test func timesMatchTheGeneralFormatter() {
        let seed = testSeed(default: 0x7135_3339)
        var g = SeededGenerator(seed: seed)
        for i in 0..<20_000 {
            var micros = Int64(bitPattern: g.next())
            if i % 2 == 0 { micros = micros % 400_000_000_000_000_000 }                    // about ±12,700 years
            if i % 4 == 0 { micros = micros - micros % 1_000_000 }                          // whole seconds
            if i == 0 { micros = .min } else if i == 1 { micros = .max }
            var general: [UInt8] = []
            RFC3339.appendGeneral(micros: micros, to: &general)
            var buffer = [UInt8](repeating: 0, count: RFC3339.maxFormattedCount)
            let n = buffer.withUnsafeMutableBytes { RFC3339.write(micros: micros, to: $0.baseAddress!) }
            #expect(Array(buffer[0..<n]) == general, "seed \(seed): \(micros)")
        }
    }
}
