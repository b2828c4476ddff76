/// Commonly used and breached passwords (NIST SP 800-63B §5.1.1.2: refuse them), generated into
/// `CommonPasswords+Generated.swift` by scripts/generate-common-passwords.py.
enum CommonPasswords {
    /// Split on first use; a `static let` is initialised once, thread-safely.
    static let all: Set<Substring> = Set(source.split(separator: "\n"))

    /// `password` lower-cased and normalised, as `PasswordPolicy` passes it.
    static func contains(_ password: String) -> Bool { all.contains(Substring(password)) }
}
