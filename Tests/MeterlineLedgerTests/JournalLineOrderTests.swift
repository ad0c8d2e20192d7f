import MeterlineCore
@testable import MeterlineLedger
import Testing

/// `JournalBook.lineOrder` sorts ASCII lines by byte keys and everything else by `String` comparison; both must give
/// the order of the (subject, side, account) tuple comparison the journal has always used.
@Suite struct JournalLineOrderTests {
    /// Texts that stress the byte keys: empty, NUL bytes, one string a prefix of another, lengths around the 8- and
    /// 16-byte words, and long ones sharing their first 16 bytes.
    static let asciiTexts: [String] = [
        "", "a", "a\u{0}", "a\u{0}b", "ab", "abcdefgh", "abcdefghi", "abcdefgh\u{0}",
        "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnop\u{0}", "abcdefghijklmnopqrstuvwxyz0123",
        "abcdefghijklmnopqrstuvwxyz0124", "abcdefghijklmnopqrstuvwxyz012", "customer-000000000017", "customer-000000000170",
        "customer-00000000017", "Customer-1", "1210", "4010", "4010-tokens", "4010-tokens-overage", "~", "\u{7F}",
    ]
    /// Non-ASCII texts, where `String` order is not byte order for every pair (a combining accent against its
    /// precomposed form compare equal as `String`s).
    static let otherTexts: [String] = ["Zoë", "Zoe\u{301}", "Ångström", "Zürich-Kunde", "東京-1"]

    static func lines(_ texts: [String], count: Int, _ g: inout SeededGenerator) -> [JournalBook.Line] {
        var seen = Set<JournalBook.LineKey>()
        var lines: [JournalBook.Line] = []
        while lines.count < count {
            let subjectChoice = Int(g.next() % UInt64(texts.count + 1))
            let key = JournalBook.LineKey(account: texts[Int(g.next() % UInt64(texts.count))],
                                          subject: subjectChoice == texts.count ? nil : texts[subjectChoice],
                                          debitSide: g.next() % 2 == 0)
            // A group holds each (account, subject, side) once.
            guard seen.insert(key).inserted else { continue }
            lines.append(JournalBook.Line(key: key, amount: g.next() % 5 == 0 ? 0 : Int128(g.next() % 1000), memo: ""))
        }
        return lines
    }

    static func expected(_ lines: [JournalBook.Line]) -> [Int] {
        lines.indices.filter { lines[$0].amount != 0 }.sorted { a, b in
            (lines[a].key.subject ?? "", lines[a].key.debitSide ? 0 : 1, lines[a].key.account)
                < (lines[b].key.subject ?? "", lines[b].key.debitSide ? 0 : 1, lines[b].key.account)
        }
    }

    @Test(arguments: [false, true])
    func linesSortAsTheirStringTuplesDo(withOtherText: Bool) {
        let seed = UInt64(withOtherText ? 0x5EED_0002 : 0x5EED_0001)
        var g = SeededGenerator(seed: seed)
        let texts = JournalLineOrderTests.asciiTexts + (withOtherText ? JournalLineOrderTests.otherTexts : [])
        for round in 0..<20 {
            let lines = JournalLineOrderTests.lines(texts, count: 150, &g)
            let got = JournalBook.lineOrder(lines)
            let want = JournalLineOrderTests.expected(lines)
            #expect(got == want, "seed \(seed), round \(round)")
            if got != want { return }
        }
    }
}

/// `WordIndex` numbers keys in insertion order and finds them by their word, comparing keys where words are equal:
/// against a `Dictionary`, with words drawn from a tiny range so that most keys share their word with others (a
/// lookup that trusted the word alone, or stopped at the first slot of equal word, fails), and across growth.
@Suite struct WordIndexTests {
    struct Key: WordHashable { var text: String; var word: UInt64 }

    @Test func numbersKeysLikeADictionary() {
        // Two fixed seeds and a fresh one; each failure prints its seed.
        for seed in [5, 0xD1C7, UInt64.random(in: 0...UInt64.max)] as [UInt64] {
            var g = SeededGenerator(seed: seed)
            var index = WordIndex<Key>(capacity: Int(g.next() % 4))
            var reference: [String: Int] = [:]
            for _ in 0..<20_000 {
                let text = "k\(g.next() % 3_000)"
                // The word is a function of the text with only 8 values: most keys share theirs with others.
                let key = Key(text: text, word: UInt64(text.utf8.reduce(0) { $0 &+ Int($1) } & 7))
                if g.next() % 3 == 0 {
                    #expect(index.number(of: key, word: key.word) == reference[text], "seed \(seed): lookup of \(text)")
                } else {
                    let (n, inserted) = index.findOrInsert(key, word: key.word)
                    if let known = reference[text] {
                        #expect(!inserted && n == known, "seed \(seed): \(text) is \(known), got \(n)")
                    } else {
                        #expect(inserted && n == reference.count, "seed \(seed): new \(text) numbered \(n)")
                        reference[text] = n
                    }
                }
            }
            #expect(index.count == reference.count, "seed \(seed)")
            for (text, n) in reference { #expect(index.keys[n].text == text, "seed \(seed)") }
        }
    }
}

/// A line's memo, built in one allocation, is the interpolated text, for ASCII and other text, empty parts included.
@Suite struct JournalMemoTests {
    @Test func spacedIsTheInterpolation() {
        let texts = ["", "Usage revenue", "Unbilled usage receivable", "eu-cust-32853", "Zoë", "東京-1", String(repeating: "x", count: 40)]
        for a in texts { for b in texts { #expect(JournalBook.spaced(a, b) == "\(a) \(b)", "\(a) | \(b)") } }
    }
}
