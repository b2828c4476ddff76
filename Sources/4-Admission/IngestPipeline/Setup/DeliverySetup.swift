import AgentConfiguration
import Delivery
import DICOMNetwork
import Foundation
import NIOCore
import NIOSSL
import PortalPKI

/// Builds the sender for a network destination from the configuration: timeouts, associations,
/// TLS material and DICOMweb credentials (read from their files here, never logged).
public enum DeliverySetup {
    public static func target(for destination: Destination, _ configuration: Configuration, callingAE: String?) throws -> any DeliveryTarget {
        let settings = configuration.delivery
        switch destination {
        case .archive:
            throw SetupError("the archive is not a network destination")
        case let .dicom(address):
            var association = AssociationConfiguration(host: address.host, port: address.port, calledAE: address.calledAE,
                                                       callingAE: callingAE ?? settings.callingAE,
                                                       implementationClassUID: KioskAgentVersion.implementationClassUID,
                                                       implementationVersionName: KioskAgentVersion.implementationVersionName)
            association.connectTimeout = .seconds(Int64(settings.connectTimeoutSeconds))
            association.artimTimeout = .seconds(Int64(settings.artimTimeoutSeconds))
            association.dimseTimeout = .seconds(Int64(settings.dimseTimeoutSeconds))
            association.maxPDULength = UInt32(settings.maxPDULength)
            association.sendPDULength = UInt32(settings.maxPDULength)
            if address.tls { association.tls = try tls(configuration.tls) }
            return DICOMSender(peer: DICOMPeer(association: association, associations: settings.associations), destination: address.url)
        case let .dicomweb(base, url):
            var stow = STOWSender.Settings(base: base)
            stow.authorization = try authorization(configuration.dicomweb)
            stow.batchBytes = configuration.dicomweb.batchBytes
            stow.connections = configuration.dicomweb.connections
            stow.timeout = .seconds(Int64(configuration.dicomweb.timeoutSeconds))
            if base.scheme == "https" { stow.tls = try tls(configuration.tls) }
            return STOWSender(settings: stow, destination: url)
        case let .portal(base, url):
            var portal = PortalTarget.Settings(base: base, credentials: try portalCredentials(configuration.portal, destination: url))
            portal.connectTimeout = .seconds(Int64(settings.connectTimeoutSeconds))
            return PortalTarget(destination: url, settings: portal)
        }
    }

    /// The kiosk's certificate, key and the portal CA from `[portal]` (what `dicom-portal kiosk add` wrote).
    public static func portalCredentials(_ settings: Configuration.PortalSettings, destination: String) throws -> KioskCredentials {
        guard let certificate = settings.certificateFile, let key = settings.keyFile, let caFile = settings.caFile else {
            throw SetupError("destination \(destination) needs [portal] certificate, key and ca_file")
        }
        do {
            return try KioskCredentials(certificate: certificate, key: key, caFile: caFile)
        } catch {
            throw SetupError("[portal]: \(error)")
        }
    }

    /// PS3.15 BCP 195: TLS 1.2 or later, the peer's certificate verified against the hospital CA
    /// (and its name or IP address, unless `verify_hostname = false`), optional client certificate.
    public static func tls(_ settings: Configuration.TLSSettings, table: String = "tls") throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        // BCP 195 (RFC 9325 §4.2) for TLS 1.2: forward secrecy and AEAD only. TLS 1.3's suites are all fine.
        tls.cipherSuites = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"].joined(separator: ":")
        tls.certificateVerification = settings.verifyHostname ? .fullVerification : .noHostnameVerification
        do {
            if let ca = settings.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            switch (settings.certificateFile, settings.privateKeyFile) {
            case let (certificate?, key?):
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            case (nil, nil):
                break
            default:
                throw SetupError("[\(table)] certificate_file and private_key_file go together")
            }
        } catch let error as SetupError {
            throw error
        } catch {
            throw SetupError("[\(table)]: cannot load the certificates or key: \(error)")
        }
        return tls
    }

    public static func authorization(_ settings: Configuration.DICOMwebSettings) throws -> DICOMwebAuthorization {
        func secret(_ path: String, _ what: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SetupError("[dicomweb]: cannot read the \(what) file \(path)")
            }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw SetupError("[dicomweb]: the \(what) file \(path) is empty") }
            return value
        }
        if let file = settings.bearerTokenFile {
            guard settings.username == nil else { throw SetupError("[dicomweb]: use either bearer_token_file or username/password_file") }
            return .bearer(try secret(file, "bearer token"))
        }
        if let user = settings.username {
            guard let file = settings.passwordFile else { throw SetupError("[dicomweb]: username needs password_file") }
            return .basic(user: user, password: try secret(file, "password"))
        }
        return .none
    }
}

/// The spool under the state directory, with the configured backoff.
public enum SpoolSetup {
    public static func open(_ stateDirectory: StateDirectory, _ configuration: Configuration) throws -> Spool {
        let directory = stateDirectory.spool
        do {
            return try Spool(directory: directory, backoff: Spool.Backoff(base: configuration.delivery.retryBaseSeconds,
                                                                          maximum: configuration.delivery.retryMaxSeconds))
        } catch {
            throw SetupError("cannot open the spool at \(directory.path): \(error)")
        }
    }
}
