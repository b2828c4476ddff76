import Crypto
import Foundation

/// An invitation's secret: 128 random bits written as 22 base64url characters (no padding). Only its SHA-256 is
/// stored; the text goes into the link and nowhere else. Stands in for `Credentials.OneTimeToken` until that module
/// is merged.
struct InvitationToken: Sendable {
    let text: String

    static func generate() -> InvitationToken {
        let bytes = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return InvitationToken(text: text)
    }

    var sha256: Data { Data(SHA256.hash(data: Data(text.utf8))) }
}
