import Foundation
import MeterlineCore
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
}
