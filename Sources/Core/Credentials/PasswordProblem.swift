/// Why `PasswordPolicy` refuses a password, with what the person choosing it needs to change.
/// `code` is stable (the web front end maps it to its own message catalogue); `description` is
/// plain English for logs and for clients without a catalogue.
public enum PasswordProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than `minimum` characters (Unicode code points after normalisation).
    case tooShort(minimum: Int)
    /// More than `maximum` characters.
    case tooLong(maximum: Int)
    /// A control character, a line break or an unassigned code point, which cannot be typed reliably.
    case unsupportedCharacter(Unicode.Scalar)
    /// On the list of commonly used passwords, alone or with only digits and symbols around it.
    case common
    /// Built from `word` (the person's name, e-mail address, the service's name), which anyone who
    /// knows them would try first: what is left besides such words is too short.
    case contextWord(String)
    /// One character, or a short part, repeated ("aaaaaaaa", "abcabcabc").
    case repetitive
    /// Runs of consecutive characters ("12345678", "abcdefgh", "1234abcd").
    case sequential

    public var code: String {
        switch self {
        case .tooShort: "password.too-short"
        case .tooLong: "password.too-long"
        case .unsupportedCharacter: "password.unsupported-character"
        case .common: "password.common"
        case .contextWord: "password.context-word"
        case .repetitive: "password.repetitive"
        case .sequential: "password.sequential"
        }
    }

    public var description: String {
        switch self {
        case let .tooShort(minimum):
            "Use at least \(minimum) characters. A few unrelated words with spaces between them are easy to remember."
        case let .tooLong(maximum):
            "Use at most \(maximum) characters."
        case let .unsupportedCharacter(scalar):
            "The password contains a character that cannot be typed reliably (U+\(String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4))), such as a tab or a line break. Use letters, digits, spaces and punctuation."
        case .common:
            "This password is on a list of commonly used passwords that attackers try first (adding digits or symbols to one does not help). Choose something less predictable."
        case let .contextWord(word):
            "This password is mostly “\(word)”, which someone who knows you or this service would try first. Add words of your own."
        case .repetitive:
            "This password repeats the same characters. Choose something less predictable."
        case .sequential:
            "This password is a sequence such as 12345678 or abcdefgh. Choose something less predictable."
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
