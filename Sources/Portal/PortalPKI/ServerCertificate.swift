import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The core's TLS listener identity, signed by the portal CA.
public struct ServerCredentials: Sendable {
    public let certificate: Certificate
    public let certificatePath: String
    public let keyPath: String
}

extension PortalAuthority {
    public static let serverValidity: TimeInterval = 397 * 24 * 3600
    /// Re-issued this long before it expires, so a listener restarted near the end never serves an expired one.
    public static let serverRenewal: TimeInterval = 30 * 24 * 3600

    /// The server certificate for `names` (DNS names and IP addresses, as configured), re-issued when it is
    /// missing, unreadable, due for renewal, not signed by this CA, or names other hosts than configured.
    public func serverCredentials(names: [String]) throws(PKIError) -> ServerCredentials {
        let wanted = try Self.subjectAlternativeNames(names)
        let certificatePath = "\(directory)/server.crt"
        let keyPath = "\(directory)/server.key"
        if let current = CertificateBuilding.current(
            certificatePath: certificatePath, keyPath: keyPath, issuer: certificate, now: now(), renewal: Self.serverRenewal),
            (try? current.extensions.subjectAlternativeNames) == wanted
        {
            return ServerCredentials(certificate: current, certificatePath: certificatePath, keyPath: keyPath)
        }
        let key = P256.Signing.PrivateKey()
        let subject = try CertificateBuilding.run {
            try DistinguishedName { CommonName(names.first ?? "dicom-portal") }
        }
        let issued = try issue(
            subject: subject, publicKey: Certificate.PublicKey(key.publicKey), validity: Self.serverValidity,
            usage: .serverAuth, subjectAlternativeNames: wanted)
        try AtomicFile.store(key.pemRepresentation, at: keyPath, mode: 0o600)
        try AtomicFile.store(try PEMFiles.pem(issued), at: certificatePath, mode: 0o644)
        return ServerCredentials(certificate: issued, certificatePath: certificatePath, keyPath: keyPath)
    }

    static func subjectAlternativeNames(_ names: [String]) throws(PKIError) -> SubjectAlternativeNames {
        var general: [GeneralName] = []
        for name in names {
            if let address = ipAddressBytes(name) {
                general.append(.ipAddress(ASN1OctetString(contentBytes: address[...])))
            } else if isDNSName(name) {
                general.append(.dnsName(name.lowercased()))
            } else {
                throw .invalidServerName(name)
            }
        }
        return SubjectAlternativeNames(general)
    }

    private static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    private static func isDNSName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return !text.isEmpty && text.utf8.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy { byte in
                        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    }
            }
    }
}
