import Crypto
import Foundation
import NIOSSL
import X509

/// What a kiosk holds to talk to its portal, read once from the files `dicom-portal kiosk add NAME --out DIR` wrote
/// (the kiosk configuration's `[portal] certificate`, `key`, `ca_file`): its name, the key that signs its session
/// manifests, and the client TLS configuration. One value, so the name on the manifest, the signing key and the
/// certificate presented in the handshake cannot come from different files.
public struct KioskCredentials: Sendable {
    /// The certificate's CN: the kiosk's name at the portal (core refuses a manifest naming another kiosk).
    public let name: String
    /// The certificate's serial, lowercase hex (what the portal's revocation list holds).
    public let serial: String
    /// The key's raw scalar: `P256.Signing.PrivateKey` is not `Sendable` in swift-crypto 3, its bytes are.
    private let keyScalar: Data
    /// mTLS towards the portal: this certificate and key, only `portal-ca.crt` trusted (``KioskTLS``).
    public let tls: TLSConfiguration

    public init(certificate: String, key: String, caFile: String) throws(PKIError) {
        let leaf = try PEMFiles.certificate(at: certificate)
        let identity: KioskIdentity
        do {
            identity = try KioskIdentity(leaf)
        } catch {
            throw .file(path: certificate, reason: "not a kiosk certificate: \(error)")
        }
        let signingKey = try PEMFiles.privateKey(at: key)
        // A key from another kiosk's directory would sign manifests core cannot attribute: refuse it here.
        guard Certificate.PublicKey(signingKey.publicKey) == leaf.publicKey else {
            throw .file(path: key, reason: "this key does not belong to the certificate \(certificate)")
        }
        name = identity.name
        serial = identity.serial
        keyScalar = signingKey.rawRepresentation
        tls = try KioskTLS.clientConfiguration(certificate: certificate, key: key, caFile: caFile)
    }

    /// The P-256 key of the certificate; it signs manifests (`ManifestSignature.sign`).
    public func signingKey() throws -> P256.Signing.PrivateKey {
        try P256.Signing.PrivateKey(rawRepresentation: keyScalar)
    }

    /// The public key a manifest's signature verifies with (the certificate's).
    public func publicKey() throws -> P256.Signing.PublicKey { try signingKey().publicKey }
}
