import Crypto
import Foundation
import X509

/// What the portal records about a kiosk certificate it issued.
public struct IssuedKiosk: Sendable, Equatable {
    public let name: KioskName
    /// The certificate's serial, lowercase hex as `openssl x509 -serial` shows it (the key revocation is looked up by).
    public let serial: String
    /// SHA-256 of the certificate's DER encoding, lowercase hex.
    public let fingerprint: String
    public let notValidAfter: Date
}

extension PortalAuthority {
    public static let kioskValidity: TimeInterval = 2 * CertificateBuilding.year

    /// Issues a client certificate for kiosk `name` and writes the layout `dicom-portal kiosk add NAME --out DIR`
    /// promises: `DIR/kiosk.crt`, `DIR/kiosk.key` (0600) and `DIR/portal-ca.crt`.
    ///
    /// The key is generated here and exists only in `DIR`: the portal keeps the serial and fingerprint.
    /// Names are unique per portal; the caller's registry (the kiosks table) enforces that, since this
    /// authority keeps no list of what it issued.
    public func issueKiosk(name: String, outputDirectory: String) throws(PKIError) -> IssuedKiosk {
        let kioskName = try KioskName(name)
        let keyPath = "\(outputDirectory)/kiosk.key"
        guard !AtomicFile.exists(keyPath) else { throw .kioskFilesExist(path: keyPath) }
        let key = P256.Signing.PrivateKey()
        let subject = try CertificateBuilding.run { try DistinguishedName { CommonName(kioskName.value) } }
        let certificate = try issue(
            subject: subject, publicKey: Certificate.PublicKey(key.publicKey),
            validity: Self.kioskValidity, usage: .clientAuth)
        try AtomicFile.makeDirectory(outputDirectory)
        try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
        try AtomicFile.store(try PEMFiles.pem(certificate), at: "\(outputDirectory)/kiosk.crt", mode: 0o644)
        try AtomicFile.store(try certificatePEM(), at: "\(outputDirectory)/\(Self.certificateFile)", mode: 0o644)
        return IssuedKiosk(
            name: kioskName, serial: KioskIdentity.serialString(certificate.serialNumber),
            fingerprint: try PEMFiles.fingerprint(certificate), notValidAfter: certificate.notValidAfter)
    }
}
