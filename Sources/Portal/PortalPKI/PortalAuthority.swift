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
        let certificatePath = "\(directory)/\(certificateFile)"
        let keyPath = "\(directory)/\(keyFile)"
        switch (AtomicFile.exists(certificatePath), AtomicFile.exists(keyPath)) {
        case (true, true):
            let certificate = try PEMFiles.certificate(at: certificatePath)
            let key = try PEMFiles.privateKey(at: keyPath)
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw .authorityKeyMismatch(directory: directory)
            }
            return PortalAuthority(
                directory: directory, certificate: certificate, privateKey: Certificate.PrivateKey(key), now: now)
        case (false, false):
            try AtomicFile.makeDirectory(directory)
            let key = P256.Signing.PrivateKey()
            let certificate = try makeCACertificate(key: key, organization: organization, now: now())
            // Key first: a certificate on disk always has its key beside it.
            try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
            try AtomicFile.store(try PEMFiles.pem(certificate), at: certificatePath, mode: 0o644)
            return PortalAuthority(
                directory: directory, certificate: certificate, privateKey: Certificate.PrivateKey(key), now: now)
        default:
            throw .incompleteAuthority(directory: directory)
        }
    }

    /// The CA certificate in PEM, as handed to kiosks (`portal-ca.crt`).
    public func certificatePEM() throws(PKIError) -> String {
        try PEMFiles.pem(certificate)
    }

    private static func makeCACertificate(
        key: P256.Signing.PrivateKey, organization: String, now: Date
    ) throws(PKIError) -> Certificate {
        let publicKey = Certificate.PublicKey(key.publicKey)
        return try CertificateBuilding.run {
            let name = try DistinguishedName {
                OrganizationName(organization)
                CommonName("\(organization) portal CA")
            }
            return try Certificate(
                version: .v3,
                serialNumber: CertificateBuilding.randomSerial(),
                publicKey: publicKey,
                // Backdated a little: a peer whose clock runs slightly behind still accepts it.
                notValidBefore: now - CertificateBuilding.clockSkew,
                notValidAfter: now + 10 * CertificateBuilding.year,
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: publicKey)
                },
                issuerPrivateKey: Certificate.PrivateKey(key))
        }
    }

    /// Signs an end-entity certificate for `publicKey` (a kiosk's or the server's).
    func issue(
        subject: DistinguishedName, publicKey: Certificate.PublicKey, validity: TimeInterval,
        usage: ExtendedKeyUsage.Usage, subjectAlternativeNames: SubjectAlternativeNames? = nil
    ) throws(PKIError) -> Certificate {
        let issuedAt = now()
        let authorityKeyIdentifier = try CertificateBuilding.run {
            try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
                ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
        }
        return try CertificateBuilding.run {
            try Certificate(
                version: .v3,
                serialNumber: CertificateBuilding.randomSerial(),
                publicKey: publicKey,
                notValidBefore: issuedAt - CertificateBuilding.clockSkew,
                notValidAfter: issuedAt + validity,
                issuer: certificate.subject,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    SubjectKeyIdentifier(hash: publicKey)
                    AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier)
                    if let subjectAlternativeNames { subjectAlternativeNames }
                },
                issuerPrivateKey: privateKey)
        }
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
