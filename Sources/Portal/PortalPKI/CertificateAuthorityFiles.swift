import Crypto
import Foundation
import X509

/// What the portal's two certificate authorities (kiosks: ``PortalAuthority``; the edge link: ``EdgeLinkAuthority``)
/// share: a P-256 CA kept as a certificate and a key file in one directory, and the end-entity certificates it signs.
extension CertificateBuilding {
    /// Loads the CA under `directory`, creating it (key + self-signed certificate, 10 years) when both files are absent.
    static func openOrCreateCA(
        directory: String, certificateFile: String, keyFile: String, organization: String, commonName: String,
        now: @Sendable () -> Date
    ) throws(PKIError) -> (Certificate, Certificate.PrivateKey) {
        let certificatePath = "\(directory)/\(certificateFile)"
        let keyPath = "\(directory)/\(keyFile)"
        switch (AtomicFile.exists(certificatePath), AtomicFile.exists(keyPath)) {
        case (true, true):
            let certificate = try PEMFiles.certificate(at: certificatePath)
            let key = try PEMFiles.privateKey(at: keyPath)
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw .authorityKeyMismatch(directory: directory)
            }
            return (certificate, Certificate.PrivateKey(key))
        case (false, false):
            try AtomicFile.makeDirectory(directory)
            let key = P256.Signing.PrivateKey()
            let certificate = try makeCACertificate(key: key, organization: organization, commonName: commonName, now: now())
            // Key first: a certificate on disk always has its key beside it.
            try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
            try AtomicFile.store(try PEMFiles.pem(certificate), at: certificatePath, mode: 0o644)
            return (certificate, Certificate.PrivateKey(key))
        default:
            throw .incompleteAuthority(directory: directory)
        }
    }

    private static func makeCACertificate(
        key: P256.Signing.PrivateKey, organization: String, commonName: String, now: Date
    ) throws(PKIError) -> Certificate {
        let publicKey = Certificate.PublicKey(key.publicKey)
        return try run {
            let name = try DistinguishedName {
                OrganizationName(organization)
                CommonName(commonName)
            }
            return try Certificate(
                version: .v3,
                serialNumber: randomSerial(),
                publicKey: publicKey,
                // Backdated a little: a peer whose clock runs slightly behind still accepts it.
                notValidBefore: now - clockSkew,
                notValidAfter: now + 10 * year,
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

    /// An end-entity certificate for `publicKey`, signed by the CA `issuer` with `key`.
    static func issue(
        by issuer: Certificate, key: Certificate.PrivateKey, at issuedAt: Date, subject: DistinguishedName,
        publicKey: Certificate.PublicKey, validity: TimeInterval, usage: ExtendedKeyUsage.Usage,
        subjectAlternativeNames: SubjectAlternativeNames?
    ) throws(PKIError) -> Certificate {
        let authorityKeyIdentifier = try run {
            try issuer.extensions.subjectKeyIdentifier?.keyIdentifier
                ?? SubjectKeyIdentifier(hash: issuer.publicKey).keyIdentifier
        }
        return try run {
            try Certificate(
                version: .v3,
                serialNumber: randomSerial(),
                publicKey: publicKey,
                notValidBefore: issuedAt - clockSkew,
                notValidAfter: issuedAt + validity,
                issuer: issuer.subject,
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
                issuerPrivateKey: key)
        }
    }

    /// The certificate at `certificatePath` when it can go on being used: its key is beside it, `issuer` signed it,
    /// and it is valid for longer than `renewal`; nil when it must be issued (again).
    static func current(
        certificatePath: String, keyPath: String, issuer: Certificate, now: Date, renewal: TimeInterval
    ) -> Certificate? {
        guard AtomicFile.exists(keyPath), let current = try? PEMFiles.certificate(at: certificatePath),
              current.issuer == issuer.subject, issuer.publicKey.isValidSignature(current.signature, for: current),
              current.notValidAfter.timeIntervalSince(now) > renewal else { return nil }
        return current
    }
}
