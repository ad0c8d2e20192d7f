/// An ISO 4217 currency code with its number of minor-unit digits.
/// Invariant: `code` is three uppercase ASCII letters; `minorUnitDigits` in 0...4.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public let minorUnitDigits: Int
    public var description: String { code }

    /// Known currencies whose minor units differ from 2 (ISO 4217 table); all other valid codes use 2.
    static let nonTwoDigit: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
        "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    ]

    /// Parses a code; nil when it is not three uppercase letters.
    public init?(code: String) {
        let u = Array(code.utf8)
        guard u.count == 3, u.allSatisfy({ $0 >= 65 && $0 <= 90 }) else { return nil }
        self.code = code
        self.minorUnitDigits = Currency.nonTwoDigit[code] ?? 2
    }
}
