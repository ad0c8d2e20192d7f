import Glibc

// Owns: the canonical order of windows (DESIGN.md §5, §6): windows that close at the same end close in
// key-text order, and a period's windows are rated in (window start, key text) order. Key texts compare by
// their UTF-8 bytes (a shorter text first when it is a prefix of the other), not by Swift's Unicode
// ordering: the order is the same for every key that is ASCII, and cheaper and locale-free for all keys.

/// The first 32 UTF-8 bytes of a key text as four big-endian words, zero-padded: two prefixes that differ
/// order as their texts do; equal prefixes need the full texts (`KeyText.less`).
struct KeyTextPrefix: Comparable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    init(_ text: String) {
        KeyText.withBytes(text) { b in
            var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &words) { w in
                w.copyMemory(from: UnsafeRawBufferPointer(rebasing: b.prefix(32)))
            }
            w0 = UInt64(bigEndian: words.0); w1 = UInt64(bigEndian: words.1)
            w2 = UInt64(bigEndian: words.2); w3 = UInt64(bigEndian: words.3)
        }
    }

    static func < (a: KeyTextPrefix, b: KeyTextPrefix) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

enum KeyText {
    /// Whether `a` sorts before `b` by UTF-8 bytes.
    static func less(_ a: String, _ b: String) -> Bool {
        withBytes(a) { x in
            withBytes(b) { y in
                let n = min(x.count, y.count)
                let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                return c < 0 || (c == 0 && x.count < y.count)
            }
        }
    }

    /// Runs `body` with the UTF-8 bytes of `s` (in place for native strings, which key texts are).
    @inline(__always)
    static func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = s.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(s.utf8).withUnsafeBytes(body)
    }
}

extension Pipeline {
    /// Window keys in key-text order (the canonical order windows close in), each with its slot in the partition's
    /// window table. Each key text is read once, for its 32-byte prefix; only keys whose prefixes tie compare full
    /// texts (a sort by `String` read two heap strings per comparison: a quarter of the close time at 400k windows).
    /// The lookups run a few keys behind their prefetches (index entry, then the key and the value's line holding
    /// its key text, then the text's heap object), since the keys of one close lie in random slots; the sort moves
    /// 40-byte rows (prefix and slot), not keys.
    func byKeyText(_ s: Int, _ keys: [RollupKey]) -> [(key: RollupKey, slot: Int)] {
        let n = keys.count
        var rows: [(prefix: KeyTextPrefix, slot: Int32)] = []
        rows.reserveCapacity(n)
        let text = WindowState.keyTextOffset
        for i in 0..<n {
            if i + 12 < n { states[s].windows.prefetch(keys[i + 12]) }
            if i + 6 < n { states[s].windows.prefetchSlot(of: keys[i + 6], valueBytes: text, count: 16) }
            if i + 3 < n { states[s].windows.prefetchObject(of: keys[i + 3], field: text, isString: true) }
            let slot = states[s].windows.slot(forKey: keys[i])!
            rows.append((KeyTextPrefix(states[s].windows.values[slot].keyText), Int32(truncatingIfNeeded: slot)))
        }
        rows.sort { a, b in
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            return KeyText.less(states[s].windows.values[Int(a.slot)].keyText, states[s].windows.values[Int(b.slot)].keyText)
        }
        return rows.map { (states[s].windows.keys[Int($0.slot)], Int($0.slot)) }
    }

    /// The key text of a present window, read in place (no copy of the window).
    @inline(__always)
    func keyText(_ s: Int, _ k: RollupKey) -> String {
        states[s].windows.values[states[s].windows.slot(forKey: k)!].keyText
    }
}
