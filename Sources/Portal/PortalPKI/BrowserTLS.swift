import Foundation
import NIOSSL

/// TLS for people's browsers (the patients' edge, the staff console) per BCP 195 (RFC 9325): 1.2 or later, forward
/// secrecy and AEAD only; the site's configured certificate, else one a private CA under the site's state directory
/// issues, for a trial or a site behind a TLS-terminating proxy (the caller logs that browsers will warn).
public enum BrowserTLS {
    public static let bcp195CipherSuites = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"].joined(separator: ":")

    /// A certificate (for `names`) from the private CA kept in `directory`, made the first time; its PEM paths.
    public static func selfSigned(directory: URL, organization: String, names: [String]) throws -> (certificate: String, key: String) {
        let authority = try PortalAuthority.openOrCreate(directory: directory.path, organization: organization)
        let credentials = try authority.serverCredentials(names: names)
        return (credentials.certificatePath, credentials.keyPath)
    }

    public static func serverConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuites = bcp195CipherSuites
        return tls
    }
}
