import Crypto
import Foundation
import X509

/// The portal's own certificate authority: it signs the core's TLS server certificate and one client
/// certificate per kiosk, for mutual TLS between kiosks and core. Nothing else trusts it, and it trusts
/// nothing else.
///
/// Layout under its directory: `portal-ca.crt`, `portal-ca.key` (0600), `server.crt`, `server.key` (0600).
/// The CA is created once, on first use, and only loaded afterwards.
public struct PortalAuthority: Sendable {
    public static let certificateFile = "portal-ca.crt"
    public static let keyFile = "portal-ca.key"

    public let directory: String
    public let certificate: Certificate
    let privateKey: Certificate.PrivateKey
    let now: @Sendable () -> Date

    /// Loads the CA under `directory`, creating it (key + self-signed certificate, 10 years) when absent.
    /// - Parameters:
    ///   - organization: the hospital, named in the CA's subject ("<organization> portal CA").
    ///   - now: the clock certificates are dated by (tests inject one to make expired certificates).
    public static func openOrCreate(
        directory: String, organization: String, now: @escaping @Sendable () -> Date = { Date() }
    ) throws(PKIError) -> PortalAuthority {
        let (certificate, key) = try CertificateBuilding.openOrCreateCA(
            directory: directory, certificateFile: certificateFile, keyFile: keyFile, organization: organization,
            commonName: "\(organization) portal CA", now: now)
        return PortalAuthority(directory: directory, certificate: certificate, privateKey: key, now: now)
    }

    /// The CA certificate in PEM, as handed to kiosks (`portal-ca.crt`).
    public func certificatePEM() throws(PKIError) -> String {
        try PEMFiles.pem(certificate)
    }

    /// Signs an end-entity certificate for `publicKey` (a kiosk's or the server's).
    func issue(
        subject: DistinguishedName, publicKey: Certificate.PublicKey, validity: TimeInterval,
        usage: ExtendedKeyUsage.Usage, subjectAlternativeNames: SubjectAlternativeNames? = nil
    ) throws(PKIError) -> Certificate {
        try CertificateBuilding.issue(
            by: certificate, key: privateKey, at: now(), subject: subject, publicKey: publicKey, validity: validity,
            usage: usage, subjectAlternativeNames: subjectAlternativeNames)
    }
}

/// Shared pieces of certificate construction.
enum CertificateBuilding {
    static let year: TimeInterval = 365 * 24 * 3600
    static let clockSkew: TimeInterval = 5 * 60

    /// 128 random bits: unpredictable serials keep chosen-prefix collision attacks off the CA's signatures.
    static func randomSerial() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        return Certificate.SerialNumber(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Runs swift-certificates' builders, turning their untyped errors into ``PKIError``.
    static func run<T>(_ body: () throws -> T) throws(PKIError) -> T {
        do {
            return try body()
        } catch let error as PKIError {
            throw error
        } catch {
            throw .encoding("\(error)")
        }
    }
}
