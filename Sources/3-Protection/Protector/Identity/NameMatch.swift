import DICOMCore
import Foundation

/// Compares the name typed at the desk with a Patient's Name from the media, the way staff would:
/// case, accents and transliteration do not matter (`Müller` = `MULLER`; `山田^太郎` matches
/// `Yamada^Tarou` through the PN's component groups or transliteration), family and given may be
/// swapped, a middle name may be missing on one side, and an initial matches a full name.
enum NameMatch: Equatable {
    case exact
    case middleNameDiffers
    case swapped
    case initial
    case none

    /// Points out of 25 the name contributes to the identity score.
    var points: Int {
        switch self {
        case .exact: 25
        case .middleNameDiffers: 22
        case .swapped: 20
        case .initial: 15
        case .none: 0
        }
    }

    var reason: String {
        switch self {
        case .exact: "name matches"
        case .middleNameDiffers: "name matches; a middle name differs or is missing on one side"
        case .swapped: "name matches with family and given names swapped"
        case .initial: "name matches by an initial only"
        case .none: "name differs"
        }
    }

    /// The desk's name: `Family^Given^Middle`, `Family, Given Middle`, or free words (`John Doe`).
    struct Desk {
        let family: String
        let given: String
        let middle: String
        /// Free words when neither `^` nor `,` said which is which.
        let words: [String]?

        init(_ text: String) {
            if text.contains("^") {
                let name = PersonName(text)
                family = PersonName.fold(name.family); given = PersonName.fold(name.given)
                middle = PersonName.fold((name.groups.first?.count ?? 0) > 2 ? name.groups[0][2] : "")
                words = nil
            } else if let comma = text.firstIndex(of: ",") {
                family = PersonName.fold(String(text[..<comma]))
                let rest = text[text.index(after: comma)...].split(separator: " ").map { PersonName.fold(String($0)) }.filter { !$0.isEmpty }
                given = rest.first ?? ""
                middle = rest.dropFirst().joined()
                words = nil
            } else {
                family = ""; given = ""; middle = ""
                words = text.split(whereSeparator: { $0 == " " || $0 == "-" }).map { PersonName.fold(String($0)) }.filter { !$0.isEmpty }
            }
        }
    }

    static func compare(desk text: String, media value: String) -> NameMatch {
        let desk = Desk(text)
        let name = PersonName(value)
        // Any component group (alphabetic, ideographic, phonetic) may carry the matching form.
        return name.groups.map { group -> NameMatch in
            let family = PersonName.fold(group.first ?? "")
            let given = PersonName.fold(group.count > 1 ? group[1] : "")
            let middle = PersonName.fold(group.count > 2 ? group[2] : "")
            return compare(desk, family: family, given: given, middle: middle)
        }.min { $0.points > $1.points } ?? .none
    }

    private static func compare(_ desk: Desk, family: String, given: String, middle: String) -> NameMatch {
        guard !family.isEmpty || !given.isEmpty else { return .none }
        if let words = desk.words {
            // Free words: every word must be one of the media's name parts, and family and given present.
            let parts = [family, given, middle].filter { !$0.isEmpty }
            let all = Set(words)
            guard all.contains(family), given.isEmpty || all.contains(given) else { return .none }
            return all.isSubset(of: Set(parts)) && Set(parts).isSubset(of: all) ? .exact
                : all.isSubset(of: Set(parts)) ? .middleNameDiffers : .none
        }
        // A middle name written into the given name on one side ("John Paul" / "John^Paul").
        let deskGiven = desk.given, deskFull = desk.given + desk.middle, mediaFull = given + middle
        if desk.family == family {
            if deskGiven == given && desk.middle == middle { return .exact }
            if deskFull == mediaFull { return .exact }
            if deskGiven == given || deskFull == given || deskGiven == mediaFull { return .middleNameDiffers }
            if let a = deskGiven.first, let b = given.first, a == b, deskGiven.count == 1 || given.count == 1 { return .initial }
            return .none
        }
        if desk.family == given && (deskGiven == family || deskFull == family + middle) { return .swapped }
        return .none
    }
}
