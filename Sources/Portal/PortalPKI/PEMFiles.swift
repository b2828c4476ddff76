import Crypto
import SwiftASN1
import X509

/// PEM and DER conversions of the CA's files.
enum PEMFiles {
    static func pem(_ certificate: Certificate) throws(PKIError) -> String {
        try CertificateBuilding.run { try certificate.serializeAsPEM().pemString }
    }

    static func der(_ certificate: Certificate) throws(PKIError) -> [UInt8] {
        try CertificateBuilding.run {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
    }

    static func certificate(at path: String) throws(PKIError) -> Certificate {
        let text = try AtomicFile.read(path)
        do {
            return try Certificate(pemEncoded: text)
        } catch {
            throw .file(path: path, reason: "not a PEM certificate")
        }
    }

    static func privateKey(at path: String) throws(PKIError) -> P256.Signing.PrivateKey {
        let text = try AtomicFile.read(path)
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: text)
        } catch {
            // Never echo the file's content: it is a key.
            throw .file(path: path, reason: "not a PEM P-256 private key")
        }
    }

    /// SHA-256 over the DER encoding, lowercase hex: what `openssl x509 -fingerprint -sha256` shows, without colons.
    static func fingerprint(_ certificate: Certificate) throws(PKIError) -> String {
        Hex.string(SHA256.hash(data: try der(certificate)))
    }
}

enum Hex {
    private static let digits = Array("0123456789abcdef")

    static func string(_ bytes: some Sequence<UInt8>) -> String {
        String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
    }
}
