import Foundation
import NIOCore
import NIOSSL
import X509

/// Decides, at each TLS handshake, whether the peer is a kiosk this portal issued and has not revoked.
///
/// Revocation is honoured at once for every *new* handshake: `isRevoked` is asked each time (the portal
/// backs it by its kiosks table), so there is no CRL to publish and no cache to go stale. A connection
/// that was already established when the kiosk was revoked is not re-verified by TLS: the portal cuts it
/// by calling ``KioskChannels/close(serial:)`` as part of revoking.
public struct KioskVerifier: Sendable {
    let authority: Certificate
    let authorityForNIO: NIOSSLCertificate
    let isRevoked: @Sendable (String) async -> Bool
    let onRejection: @Sendable (KioskVerificationError) -> Void

    /// - Parameters:
    ///   - authority: the portal CA certificate, the only trust root.
    ///   - isRevoked: asked with ``KioskIdentity/serial`` on every handshake, after the chain is valid; it must
    ///     answer `true` when it cannot tell (database down), so an outage fails closed. The handshake waits for it.
    ///   - onRejection: told why a handshake was refused (the TLS alert itself carries no reason).
    public init(
        authority: Certificate,
        isRevoked: @escaping @Sendable (String) async -> Bool,
        onRejection: @escaping @Sendable (KioskVerificationError) -> Void = { _ in }
    ) throws(PKIError) {
        self.authority = authority
        do {
            self.authorityForNIO = try NIOSSLCertificate(bytes: try PEMFiles.der(authority), format: .der)
        } catch {
            throw .encoding("the CA certificate cannot be loaded by NIOSSL: \(error)")
        }
        self.isRevoked = isRevoked
        self.onRejection = onRejection
    }

    /// Verifies the chain a client presented (leaf first), returning who it is.
    public func verify(presented: [Certificate]) async throws(KioskVerificationError) -> KioskIdentity {
        guard let leaf = presented.first else { throw .noCertificate }
        let subject = leaf.subject.description
        // Explicit checks first, for errors an administrator can act on; the Verifier below stays the authority.
        guard leaf.issuer == authority.subject, authority.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            throw .unknownAuthority(subject: subject)
        }
        let identity = try KioskIdentity(leaf)
        let validationTime = Date()
        if validationTime > leaf.notValidAfter { throw .expired(kiosk: identity.name, notValidAfter: leaf.notValidAfter) }
        if validationTime < leaf.notValidBefore {
            throw .notYetValid(kiosk: identity.name, notValidBefore: leaf.notValidBefore)
        }
        guard (try? leaf.extendedKeyUsage)?.contains(.clientAuth) == true else { throw .wrongUsage(subject: subject) }

        var verifier = Verifier(rootCertificates: CertificateStore([authority])) {
            RFC5280Policy()
            ClientAuthPolicy()
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(presented.dropFirst())) {
        case .validCertificate:
            break
        case .couldNotValidate(let failures):
            throw .invalidChain(failures.map { "\($0.policyFailureReason)" }.joined(separator: "; "))
        }
        if await isRevoked(identity.serial) { throw .revoked(kiosk: identity.name, serial: identity.serial) }
        return identity
    }

    /// The NIOSSL callback that replaces BoringSSL's own chain check with ``verify(presented:)``. Use it
    /// through ``makeServerHandler(context:)``.
    public var verificationCallback: NIOSSLCustomVerificationCallbackWithMetadata {
        { [self] presented, promise in
            promise.completeWithTask {
                do throws(KioskVerificationError) {
                    let certificates = try Self.parse(presented)
                    _ = try await verify(presented: certificates)
                    return .certificateVerified(VerificationMetadata(ValidatedCertificateChain([presented[0], authorityForNIO])))
                } catch {
                    onRejection(error)
                    return .failed
                }
            }
        }
    }

    /// The TLS handler for one accepted kiosk connection (the server's `NIOSSLContext` comes from
    /// ``PortalAuthority/serverTLSConfiguration(names:)``).
    public func makeServerHandler(context: NIOSSLContext) -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context, customVerificationCallbackWithMetadata: verificationCallback)
    }

    private static func parse(_ presented: [NIOSSLCertificate]) throws(KioskVerificationError) -> [Certificate] {
        guard !presented.isEmpty else { throw .noCertificate }
        do {
            return try presented.map { try Certificate(derEncoded: $0.toDERBytes()) }
        } catch {
            throw .malformed("\(error)")
        }
    }
}
