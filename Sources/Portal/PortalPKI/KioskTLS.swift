import NIOSSL

/// The kiosk's side of mutual TLS with the portal core, from the files `dicom-portal kiosk add` wrote
/// (the kiosk configuration's `[portal] certificate`, `key`, `ca_file`). Usable by AsyncHTTPClient.
public enum KioskTLS {
    /// Trusts only the portal CA (not the system store) and checks the server's name against its certificate.
    public static func clientConfiguration(
        certificate: String, key: String, caFile: String
    ) throws(PKIError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = try load(certificate) { try NIOSSLCertificate.fromPEMFile($0).map { .certificate($0) } }
        configuration.privateKey = try load(key) { .privateKey(try NIOSSLPrivateKey(file: $0, format: .pem)) }
        configuration.trustRoots = try load(caFile) { .certificates(try NIOSSLCertificate.fromPEMFile($0)) }
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    private static func load<T>(_ path: String, _ body: (String) throws -> T) throws(PKIError) -> T {
        do {
            return try body(path)
        } catch {
            // NIOSSL's errors name no key material; still, say only which file.
            throw .file(path: path, reason: "cannot be loaded by NIOSSL")
        }
    }
}
