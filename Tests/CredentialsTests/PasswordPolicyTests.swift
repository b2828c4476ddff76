import XCTest
@testable import Credentials

final class PasswordPolicyTests: XCTestCase {
    let patient = ["Anna-Lena", "Müller", "anna.mueller", "dicom portal"]

    func testLength() {
        XCTAssertEqual(PasswordPolicy.check("k7#tqz9"), .tooShort(minimum: 8))
        XCTAssertNil(PasswordPolicy.check("k7#tqz9w"))
        XCTAssertEqual(PasswordPolicy.check(""), .tooShort(minimum: 8))
        // 64 and more are accepted, up to 256 code points.
        let words = ["lantern", "orchid", "gravel", "mosaic", "thistle", "harbour", "quill", "ember", "saffron", "drift"]
        var generator = SystemRandomNumberGenerator()
        let passphrase = (0..<40).map { _ in words.randomElement(using: &generator) ?? "" }.joined(separator: " ")
        XCTAssertNil(PasswordPolicy.check(String(passphrase.prefix(64))))
        XCTAssertNil(PasswordPolicy.check(String(passphrase.prefix(256))))
        XCTAssertEqual(PasswordPolicy.check(String(passphrase.prefix(257))), .tooLong(maximum: 256))
        XCTAssertEqual(PasswordPolicy.check(String(repeating: "x7", count: 500_000)), .tooLong(maximum: 256))
        // Counted in code points after normalisation: "é" is one, however it was typed.
        XCTAssertNil(PasswordPolicy.check("gé#ktwz9"))
        XCTAssertNil(PasswordPolicy.check("ge\u{301}#ktwz9"))
        XCTAssertEqual(PasswordPolicy.check("gé#ktwz"), .tooShort(minimum: 8))
        XCTAssertEqual(PasswordPolicy.check("ge\u{301}#ktwz"), .tooShort(minimum: 8))
    }

    /// NFKC: the ligature "ﬁ" is "fi" (two characters), full-width letters are ASCII ones.
    func testNormalisation() {
        XCTAssertEqual(PasswordPolicy.normalized("ﬁ"), "fi")
        XCTAssertEqual(PasswordPolicy.normalized("ｐａｓｓｗｏｒｄ"), "password")
        XCTAssertEqual(Array(PasswordPolicy.normalized("cafe\u{301}").unicodeScalars), Array("caf\u{E9}".unicodeScalars))
        XCTAssertNil(PasswordPolicy.check("ﬁ9kq#zw"), "7 code points as typed, 8 once normalised")
        XCTAssertEqual(PasswordPolicy.check("ﬁ9kq#z"), .tooShort(minimum: 8))
        XCTAssertEqual(PasswordPolicy.check("ｐａｓｓｗｏｒｄ"), .common)
    }

    func testPrintableCharactersAndSpacesAllowedControlsNot() {
        XCTAssertNil(PasswordPolicy.check("  spaced   out  words "))
        XCTAssertNil(PasswordPolicy.check("🦄 ночь над рекой"))
        XCTAssertNil(PasswordPolicy.check("~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"))
        XCTAssertNil(PasswordPolicy.check("no rules: all lower case"))
        for (password, scalar) in [("tab\there-ok9", "\t"), ("line\nbreak-ok9", "\n"), ("nul\u{0}-in-it-9", "\u{0}"),
                                   ("escape\u{1B}[31m", "\u{1B}"), ("separator\u{2028}x9", "\u{2028}"),
                                   ("unassigned\u{0378}x9", "\u{0378}")] {
            XCTAssertEqual(PasswordPolicy.check(password), .unsupportedCharacter(Unicode.Scalar(scalar)!), password)
        }
    }

    func testCommonPasswords() {
        XCTAssertGreaterThanOrEqual(CommonPasswords.all.count, 30_000)
        for password in ["password", "PASSWORD", "PassWord", "iloveyou", "trustno1", "sunshine", "michael1",
                         "jennifer", "qwertyuiop", "football1", "Password123!", "sunshine2024", "!!monkey!!", "Dragon 99",
                         "P@ssw0rd", "Summer2024!", "hello world", "pass word 123", "1q2w3e4r5t"] {
            XCTAssertEqual(PasswordPolicy.check(password), .common, password)
        }
        XCTAssertNil(PasswordPolicy.check("sunshine over harbour"), "a common word inside a longer phrase is fine")
        // A random password whose letters happen to be one on the list ("a") is not decorating it.
        XCTAssertNil(PasswordPolicy.check("<3A!`^/9"))
        XCTAssertNil(PasswordPolicy.check("Tr0ub4dor&3"))
    }

    func testContextWords() {
        for password in ["AnnaLena1987", "anna-lena müller", "Müller.Anna!!", "anna.mueller@", "dicomportal",
                         "Dicom Portal 2024!", "annalena-password"] {
            XCTAssertEqual(PasswordPolicy.check(password, context: patient).map(\.code), "password.context-word", password)
        }
        XCTAssertEqual(PasswordPolicy.check("AnnaLena1987", context: patient), .contextWord("annalena"))
        XCTAssertEqual(PasswordPolicy.check("dicom portal 2024", context: patient), .contextWord("portal"))
        // Enough of one's own besides the name, or a short name part (ignored under three characters).
        XCTAssertNil(PasswordPolicy.check("anna hums lantern songs", context: patient))
        XCTAssertNil(PasswordPolicy.check("anna-Kx9#mq2!pz", context: patient))
        XCTAssertNil(PasswordPolicy.check("li ng k9x#q2z", context: ["Li", "Ng"]))
        XCTAssertNil(PasswordPolicy.check("AnnaLena1987"), "no context given")
    }

    func testRepetitiveAndSequential() {
        for password in ["aaaaaaaa", "zzzzzzzzzzzzzzzz", "abcabcabc", "12121212", "aaaa1111", "xyxyxyxyxyxy", "qwerqwerqwer"] {
            XCTAssertEqual(PasswordPolicy.check(password), .repetitive, password)
        }
        for password in ["12345678", "abcdefgh", "ABCDEFGH", "87654321", "1234abcd", "zyxwvuts", "abcdefghijklmnopqrstuvwxyz"] {
            XCTAssertEqual(PasswordPolicy.check(password), .sequential, password)
        }
        XCTAssertNil(PasswordPolicy.check("correct horse battery staple"))
        XCTAssertNil(PasswordPolicy.check("correcthorsecorrecthorse"), "a repeated part long enough on its own")
    }

    func testProblemsSayWhatToFixWithStableCodes() {
        let problems: [PasswordProblem] = [.tooShort(minimum: 8), .tooLong(maximum: 256), .unsupportedCharacter("\t"),
                                           .common, .contextWord("anna"), .repetitive, .sequential]
        XCTAssertEqual(problems.map(\.code), ["password.too-short", "password.too-long", "password.unsupported-character",
                                              "password.common", "password.context-word", "password.repetitive",
                                              "password.sequential"])
        XCTAssertTrue(PasswordProblem.tooShort(minimum: 8).description.contains("at least 8 characters"))
        XCTAssertTrue(PasswordProblem.tooLong(maximum: 256).description.contains("at most 256 characters"))
        XCTAssertTrue(PasswordProblem.unsupportedCharacter("\t").description.contains("U+0009"))
        XCTAssertTrue(PasswordProblem.contextWord("anna").description.contains("anna"))
        XCTAssertEqual(Set(problems.map(\.description)).count, problems.count)
    }
}
