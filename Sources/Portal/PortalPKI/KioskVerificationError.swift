import Foundation

/// Why a kiosk's TLS handshake was refused. The handshake itself only fails; these texts go to the
/// verifier's rejection handler, for the log and the admin console.
public enum KioskVerificationError: Error, Equatable, CustomStringConvertible {
    case noCertificate
    case malformed(String)
    /// Not issued by this portal's CA.
    case unknownAuthority(subject: String)
    case expired(kiosk: String, notValidAfter: Date)
    case notYetValid(kiosk: String, notValidBefore: Date)
    /// Issued by the portal CA, but not for client authentication (e.g. the server's certificate).
    case wrongUsage(subject: String)
    case revoked(kiosk: String, serial: String)
    /// The chain failed swift-certificates' RFC 5280 validation for another reason.
    case invalidChain(String)

    public var description: String {
        switch self {
        case .noCertificate:
            "no client certificate was presented"
        case .malformed(let reason):
            "malformed client certificate: \(reason)"
        case .unknownAuthority(let subject):
            "certificate \"\(subject)\" was not issued by this portal's CA"
        case .expired(let kiosk, let date):
            "certificate of kiosk \(kiosk) expired on \(date.formatted(.iso8601))"
        case .notYetValid(let kiosk, let date):
            "certificate of kiosk \(kiosk) is not valid before \(date.formatted(.iso8601))"
        case .wrongUsage(let subject):
            "certificate \"\(subject)\" is not for client authentication (no clientAuth extended key usage)"
        case .revoked(let kiosk, let serial):
            "certificate of kiosk \(kiosk) (serial \(serial)) is revoked"
        case .invalidChain(let reason):
            "client certificate chain is invalid: \(reason)"
        }
    }
}
