import Foundation

/// Which passwords the portal accepts, per NIST SP 800-63B (rev. 3 §5.1.1.2, rev. 4 §3.1.1.2): length
/// is what counts, every printable character and the space are allowed, there are no composition rules
/// ("one digit, one capital") and no expiry; what is refused is what attackers try first: commonly used
/// and breached passwords, words from the context (the person's names, e-mail address, the service),
/// and repetitive or sequential strings.
public enum PasswordPolicy {
    /// Eight, not fifteen: the portal always asks for a second factor as well (rev. 4 allows 8 then).
    public static let minimumLength = 8
    /// NIST asks to accept at least 64; the cap bounds what the slow hash is given.
    public static let maximumLength = 256

    /// NFKC (SP 800-63B asks for a normalisation before hashing, so that "ﬁ" and "fi", or a precomposed
    /// "é" and "e" with a combining accent, are the same password however they were typed).
    public static func normalized(_ password: String) -> String {
        password.precomposedStringWithCompatibilityMapping
    }

    /// nil if `password` may be used; otherwise the first problem found. `context`: what someone who
    /// knows the person would try (their names, the local part of their e-mail address, "dicom portal").
    public static func check(_ password: String, context: [String] = []) -> PasswordProblem? {
        // NFKC shortens text at most threefold (Hangul jamo into syllables): anything longer is too long
        // however it normalises, and is refused before normalising it.
        guard password.unicodeScalars.count <= 3 * maximumLength else { return .tooLong(maximum: maximumLength) }
        let normal = normalized(password)
        if let scalar = normal.unicodeScalars.first(where: isUnsupported) { return .unsupportedCharacter(scalar) }
        let length = normal.unicodeScalars.count
        if length < minimumLength { return .tooShort(minimum: minimumLength) }
        if length > maximumLength { return .tooLong(maximum: maximumLength) }
        let lower = normal.lowercased()
        if let word = contextWord(in: lower, context: context) { return .contextWord(word) }
        // Before the list, which has many of these too: "a sequence" says better what is wrong.
        if let problem = pattern(Array(lower.unicodeScalars)) { return problem }
        // Spaces do not hide one either ("pass word 123").
        return isCommon(lower) || isCommon(lower.filter { !$0.isWhitespace }) ? .common : nil
    }

    /// Controls (tab, line feed, escape), line and paragraph separators and unassigned code points:
    /// not printable, and an unassigned one could normalise differently once a later Unicode assigns it.
    static func isUnsupported(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator, .unassigned, .surrogate: true
        default: false
        }
    }

    /// On the list, or on it once the digits, symbols and spaces around it are taken off
    /// ("password123!", "!!monkey"): decorating a common password is the first thing guessed. What is
    /// left must be four characters or more ("love"): the list also has single letters, which a random
    /// password like "<3a!`^/9" would otherwise be refused for.
    static func isCommon(_ lower: String) -> Bool {
        if CommonPasswords.contains(lower) { return true }
        let scalars = Array(lower.unicodeScalars)
        guard let first = scalars.firstIndex(where: \.properties.isAlphabetic),
              let last = scalars.lastIndex(where: \.properties.isAlphabetic),
              first > 0 || last < scalars.count - 1, last - first + 1 >= 4 else { return false }
        var core = String.UnicodeScalarView()
        core.append(contentsOf: scalars[first...last])
        return CommonPasswords.contains(String(core))
    }

    /// The context word a password is built from: once every context word (three characters or more,
    /// each name part and the whole) is taken out, what is left (spaces and punctuation aside) is too
    /// short, common, repetitive or sequential. nil when no context word occurs or enough is left.
    static func contextWord(in lower: String, context: [String]) -> String? {
        var words: Set<String> = []
        for entry in context {
            let parts = normalized(entry).lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
            words.formUnion(parts)
            words.insert(parts.joined())
        }
        // Longest first, so "annalena" goes before "anna" takes a bite of it.
        let ordered = words.filter { $0.unicodeScalars.count >= 3 }
            .sorted { ($0.unicodeScalars.count, $0) > ($1.unicodeScalars.count, $1) }
        var rest = lower
        var found: String?
        for word in ordered where rest.contains(word) {
            rest = rest.replacing(word, with: "")
            found = found ?? word
        }
        guard let found else { return nil }
        var significant = String.UnicodeScalarView()
        significant.append(contentsOf: rest.unicodeScalars.filter {
            !$0.properties.isWhitespace && !CharacterSet.punctuationCharacters.contains($0)
        })
        let left = String(significant)
        let weak = left.unicodeScalars.count < minimumLength || isCommon(left) || pattern(Array(left.unicodeScalars)) != nil
        return weak ? found : nil
    }

    /// A shorter string repeated ("abcabcabc", "12121212"), or few runs of one character or of
    /// consecutive code points ("aaaaaaaa", "12345678", "1234abcd", "zyxwvuts") for the length: at
    /// most a quarter as many runs as characters, and at most two.
    static func pattern(_ scalars: [Unicode.Scalar]) -> PasswordProblem? {
        let values = scalars.map { Int($0.value) }
        let count = values.count
        guard count > 1 else { return nil }
        for unit in 1...(count / 2) where count % unit == 0 && unit < minimumLength {
            if (unit..<count).allSatisfy({ values[$0] == values[$0 % unit] }) { return .repetitive }
        }
        var runs = 0
        var sequence = false
        var index = 0
        while index < count {
            runs += 1
            var end = index
            if index + 1 < count, abs(values[index + 1] - values[index]) <= 1 {
                let step = values[index + 1] - values[index]
                end = index + 1
                while end + 1 < count, values[end + 1] - values[end] == step { end += 1 }
                if step != 0 { sequence = true }
            }
            index = end + 1
        }
        guard runs <= max(2, count / 4) else { return nil }
        return sequence ? .sequential : .repetitive
    }
}
