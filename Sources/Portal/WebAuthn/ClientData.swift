import Foundation

/// The browser's CollectedClientData (WebAuthn §5.8.1), checked as §7.1 steps 7–10 and §7.2 steps 11–14 say.
/// tokenBinding is ignored (no browser implements it any more); topOrigin only appears with crossOrigin, which is
/// refused.
struct ClientData: Decodable {
    /// Browsers write about 150–300 bytes; more is not a browser's.
    static let maxSize = 4096

    let type: String
    let challenge: String
    let origin: String
    let crossOrigin: Bool?

    enum Ceremony: String {
        case create = "webauthn.create"
        case get = "webauthn.get"
    }

    static func check(_ json: [UInt8], ceremony: Ceremony, challenge expected: [UInt8], origins: Set<String>) throws(WebAuthnError) {
        guard json.count <= maxSize else { throw .limitExceeded(what: "clientDataJSON", size: json.count, limit: maxSize) }
        let data: ClientData
        do {
            data = try JSONDecoder().decode(ClientData.self, from: Data(json))
        } catch let DecodingError.keyNotFound(key, _) {
            throw .malformedClientData("no \"\(key.stringValue)\" member")
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw .malformedClientData("\"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type")
        } catch {
            throw .malformedClientData("not a JSON object")
        }
        guard data.type == ceremony.rawValue else { throw .wrongType(expected: ceremony.rawValue, received: data.type) }
        guard let received = Base64URL.decode(data.challenge), constantTimeEqual(received, expected) else { throw .challengeMismatch }
        guard origins.contains(data.origin) else { throw .originNotAllowed(data.origin) }
        guard data.crossOrigin != true else { throw .crossOrigin }
    }
}

/// Byte-wise comparison whose time does not depend on where the bytes differ (lengths are not secret).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
