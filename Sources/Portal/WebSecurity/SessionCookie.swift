import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The browser session's cookie on both sites: a 256-bit random id in a `__Host-` cookie (Secure, HttpOnly,
/// SameSite=Strict, Path=/, no Domain), which the server keeps only as its SHA-256.
public enum SessionCookie {
    public static let name = "__Host-session"

    public static func set(_ token: String) -> String {
        "\(name)=\(token); Path=/; Secure; HttpOnly; SameSite=Strict"
    }

    public static let clear = "\(name)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"

    public static func token(in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix(name + "=") { return String(trimmed.dropFirst(name.count + 1)) }
            }
        }
        return nil
    }

    /// The digest a cookie value is stored under; nil for anything that is not a token we could have made.
    public static func digest(_ token: String) -> Data? {
        guard token.utf8.count == 43, token.utf8.allSatisfy(isBase64URL) else { return nil }
        return Data(SHA256.hash(data: Data(token.utf8)))
    }

    /// A new session id: the cookie value and the digest it is stored under.
    public static func newID() -> (token: String, digest: Data) {
        let token = randomToken()
        return (token, Data(SHA256.hash(data: Data(token.utf8))))
    }

    /// 256 random bits, base64url without padding (43 characters): session ids and CSRF tokens.
    public static func randomToken() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F
    }
}
