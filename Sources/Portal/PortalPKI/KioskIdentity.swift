import NIOCore
import NIOSSL
import X509

/// Who is on the other end of a verified kiosk connection.
public struct KioskIdentity: Sendable, Hashable {
    /// The certificate's CN: the name the kiosk was issued under.
    public let name: String
    /// The certificate's serial, as in ``IssuedKiosk/serial``.
    public let serial: String

    init(_ certificate: Certificate) throws(KioskVerificationError) {
        let commonNames = certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }
        guard commonNames.count == 1, let name = String(commonNames[0].value), (try? KioskName(name)) != nil else {
            throw .malformed("the certificate's subject does not name one kiosk")
        }
        self.name = name
        self.serial = Self.serialString(certificate.serialNumber)
    }

    /// Lowercase hex of the serial's magnitude, without the DER sign byte: what `openssl x509 -serial` prints.
    static func serialString(_ serial: Certificate.SerialNumber) -> String {
        let magnitude = serial.bytes.drop { $0 == 0 }
        return Hex.string(magnitude.isEmpty ? [0] : Array(magnitude))
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The kiosk this connection was verified as, once the TLS handshake has completed with a
    /// ``KioskVerifier``'s handler (nil before, or on a handler without one).
    public func kioskIdentity() throws -> KioskIdentity? {
        guard let leaf = try nioSSL_peerValidatedCertificateChain()?.leaf else { return nil }
        return try KioskIdentity(Certificate(derEncoded: leaf.toDERBytes()))
    }
}
