/// Left-aligned columns for the tables the commands print (the backfill report, run summaries, `price`).
///
/// Invariant: a value is never cut. Foundation's `padding(toLength:withPad:startingAt:)` truncates a longer string
/// to the column's width, which printed a 21-digit total as a different number glued to the next column; a value
/// as wide as its column or wider is printed whole and followed by one space instead.
public enum TextColumn {
    /// `text` padded with spaces to `width` characters; a value of `width` or more characters, whole, plus one space.
    public static func pad(_ text: String, _ width: Int) -> String {
        let n = text.count
        return n < width ? text + String(repeating: " ", count: width - n) : text + " "
    }
}
