import Foundation

/// A Person Name (PN) value: up to three component groups (alphabetic, ideographic, phonetic),
/// each of up to five `^`-separated components (PS3.5 §6.2.1.1).
public struct PersonName: Sendable, Equatable {
    public let groups: [[String]]

    public init(_ value: String) {
        groups = value.split(separator: "=", omittingEmptySubsequences: false).prefix(3).map { group in
            group.split(separator: "^", omittingEmptySubsequences: false).prefix(5).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
    }

    public var family: String { groups.first?.first ?? "" }
    public var given: String { (groups.first?.count ?? 0) > 1 ? groups[0][1] : "" }

    /// The alphabetic family and given names, case-folded, accents removed, punctuation and
    /// whitespace collapsed: `Buc^Jérôme` and `BUC^JEROME` compare equal.
    public var normalizedForMatching: String {
        [family, given].map(PersonName.fold).joined(separator: "^")
    }

    /// One name part for matching: transliterated to Latin, case and accents folded, only letters
    /// and digits kept.
    public static func fold(_ text: String) -> String {
        let latin = text.applyingTransform(.toLatin, reverse: false) ?? text
        let folded = latin.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: Locale(identifier: "en_US_POSIX"))
        return folded.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(String.init).joined()
    }
}
