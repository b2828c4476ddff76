import Crypto
import Foundation
import NIOSSL
import X509

/// The certificate authority of the link between core and the edge (core opens every connection, mutual TLS). It is
/// not the kiosks' CA: a kiosk certificate must never open the link, and the edge must never accept a kiosk's.
///
/// Layout under its directory (core's `STATE/pki/edge-link`): `ca.crt`, `ca.key` (0600), and core's client certificate
/// `core.crt`, `core.key` (0600). The edge's server certificate is written to the directory the operator names
/// (``provisionEdge(hosts:outputDirectory:)``) and copied to the edge; its key is not kept here.
public struct EdgeLinkAuthority: Sendable {
    public static let certificateFile = "ca.crt"
    public static let keyFile = "ca.key"
    public static let coreCertificateFile = "core.crt"
    public static let coreKeyFile = "core.key"
    /// What `dicom-portal edge provision --out DIR` writes, and the edge reads from `EDGE_STATE/link/`.
    public static let edgeCertificateFile = "link.crt"
    public static let edgeKeyFile = "link.key"
    public static let edgeCAFile = "link-ca.crt"
    /// The CN of core's client certificate.
    public static let coreCommonName = "dicom-portal core"
    /// Both link certificates live as long as the core's kiosk-facing server certificate, and core renews its own as early.
    public static let validity = PortalAuthority.serverValidity
    public static let renewal = PortalAuthority.serverRenewal

    public let directory: String
    public let certificate: Certificate
    let privateKey: Certificate.PrivateKey
    let now: @Sendable () -> Date

    /// Loads the link CA under `directory`, creating it on first need.
    /// - Parameter organization: the hospital, named in the CA's subject ("<organization> edge link CA").
    public static func openOrCreate(
        directory: String, organization: String, now: @escaping @Sendable () -> Date = { Date() }
    ) throws(PKIError) -> EdgeLinkAuthority {
        let (certificate, key) = try CertificateBuilding.openOrCreateCA(
            directory: directory, certificateFile: certificateFile, keyFile: keyFile, organization: organization,
            commonName: "\(organization) edge link CA", now: now)
        return EdgeLinkAuthority(directory: directory, certificate: certificate, privateKey: key, now: now)
    }

    public var certificatePath: String { "\(directory)/\(Self.certificateFile)" }

    /// Core's client certificate (CN "dicom-portal core", EKU clientAuth), issued when missing, not signed by this CA,
    /// or due for renewal.
    public func coreCredentials() throws(PKIError) -> EdgeLinkCredentials {
        let certificatePath = "\(directory)/\(Self.coreCertificateFile)"
        let keyPath = "\(directory)/\(Self.coreKeyFile)"
        if let current = CertificateBuilding.current(
            certificatePath: certificatePath, keyPath: keyPath, issuer: certificate, now: now(), renewal: Self.renewal) {
            return EdgeLinkCredentials(certificate: current, certificatePath: certificatePath, keyPath: keyPath, caPath: self.certificatePath)
        }
        let key = P256.Signing.PrivateKey()
        let subject = try CertificateBuilding.run { try DistinguishedName { CommonName(Self.coreCommonName) } }
        let issued = try CertificateBuilding.issue(
            by: certificate, key: privateKey, at: now(), subject: subject, publicKey: Certificate.PublicKey(key.publicKey),
            validity: Self.validity, usage: .clientAuth, subjectAlternativeNames: nil)
        try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
        try AtomicFile.store(try PEMFiles.pem(issued), at: certificatePath, mode: 0o644)
        return EdgeLinkCredentials(certificate: issued, certificatePath: certificatePath, keyPath: keyPath, caPath: self.certificatePath)
    }

    /// Issues the edge's server certificate for `hosts` (DNS names or IP addresses core connects to; EKU serverAuth)
    /// with a fresh key, and writes `DIR/link.crt`, `DIR/link.key` (0600) and `DIR/link-ca.crt`. Provisioning again
    /// (before the certificate expires) replaces the three files: copy them to the edge and restart it.
    public func provisionEdge(hosts: [String], outputDirectory: String) throws(PKIError) -> EdgeLinkCredentials {
        guard let first = hosts.first else { throw .invalidServerName("") }
        let names = try PortalAuthority.subjectAlternativeNames(hosts)
        let key = P256.Signing.PrivateKey()
        let subject = try CertificateBuilding.run { try DistinguishedName { CommonName(first) } }
        let issued = try CertificateBuilding.issue(
            by: certificate, key: privateKey, at: now(), subject: subject, publicKey: Certificate.PublicKey(key.publicKey),
            validity: Self.validity, usage: .serverAuth, subjectAlternativeNames: names)
        try AtomicFile.makeDirectory(outputDirectory)
        let certificatePath = "\(outputDirectory)/\(Self.edgeCertificateFile)"
        let keyPath = "\(outputDirectory)/\(Self.edgeKeyFile)"
        let caPath = "\(outputDirectory)/\(Self.edgeCAFile)"
        try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
        try AtomicFile.store(try PEMFiles.pem(issued), at: certificatePath, mode: 0o644)
        try AtomicFile.store(try PEMFiles.pem(certificate), at: caPath, mode: 0o644)
        return EdgeLinkCredentials(certificate: issued, certificatePath: certificatePath, keyPath: keyPath, caPath: caPath)
    }

    /// Core's side of the link: its client certificate (issued or renewed as needed), only the link CA trusted, and
    /// the edge's name checked against its certificate.
    public func clientTLSConfiguration() throws(PKIError) -> TLSConfiguration {
        let core = try coreCredentials()
        return try KioskTLS.clientConfiguration(certificate: core.certificatePath, key: core.keyPath, caFile: core.caPath)
    }
}

/// A certificate of the link with the files it and its key are in, and the link CA's file beside them.
public struct EdgeLinkCredentials: Sendable {
    public let certificate: Certificate
    public let certificatePath: String
    public let keyPath: String
    public let caPath: String
}

/// The edge's side of the link, from the files `dicom-portal edge provision` wrote.
public enum EdgeLinkTLS {
    /// The link listener: the edge's server certificate, a client certificate required and verified against the link
    /// CA only (core is not addressed by host name, so no hostname check on this side).
    public static func serverConfiguration(certificate: String, key: String, caFile: String) throws(PKIError) -> TLSConfiguration {
        do {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            // NIOSSL's errors name no key material; still, say only which files.
            throw .file(path: certificate, reason: "NIOSSL cannot load the link credentials (\(certificate), \(key), \(caFile))")
        }
    }
}
