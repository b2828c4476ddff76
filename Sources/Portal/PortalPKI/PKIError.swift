/// Why the portal's certificate authority could not do what was asked.
public enum PKIError: Error, Equatable, CustomStringConvertible {
    /// A kiosk name must be 1–64 characters of `A–Z a–z 0–9 . _ -` (see ``KioskName``).
    case invalidKioskName(String)
    /// A configured server name is neither a DNS name nor an IP address.
    case invalidServerName(String)
    /// `--out DIR` already holds a kiosk key: issuing again would silently replace a kiosk's identity.
    case kioskFilesExist(path: String)
    /// The CA directory holds a certificate without its key, or a key without its certificate.
    case incompleteAuthority(directory: String)
    /// The stored CA key does not belong to the stored CA certificate.
    case authorityKeyMismatch(directory: String)
    /// A file could not be read, written or parsed.
    case file(path: String, reason: String)
    /// swift-certificates refused to build or encode a certificate.
    case encoding(String)

    public var description: String {
        switch self {
        case .invalidKioskName(let name):
            "invalid kiosk name \"\(name)\": use 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'"
        case .invalidServerName(let name):
            "invalid server name \"\(name)\": expected a DNS name or an IP address"
        case .kioskFilesExist(let path):
            "\(path) already exists: refusing to replace a kiosk's key"
        case .incompleteAuthority(let directory):
            "\(directory) holds only half of the portal CA (certificate and key must both exist)"
        case .authorityKeyMismatch(let directory):
            "the CA key in \(directory) does not match the CA certificate"
        case .file(let path, let reason):
            "\(path): \(reason)"
        case .encoding(let reason):
            "cannot encode certificate: \(reason)"
        }
    }
}
