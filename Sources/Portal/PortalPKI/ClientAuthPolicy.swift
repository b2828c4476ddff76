import SwiftASN1
import X509

/// The leaf must be meant for TLS client authentication: a server certificate from the same CA
/// must not open a kiosk session.
struct ClientAuthPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        guard let usage = try? chain.leaf.extendedKeyUsage, usage.contains(.clientAuth) else {
            return .failsToMeetPolicy(reason: "the leaf certificate has no clientAuth extended key usage")
        }
        return .meetsPolicy
    }
}

extension Certificate {
    var extendedKeyUsage: ExtendedKeyUsage? {
        get throws { try extensions.extendedKeyUsage }
    }
}
