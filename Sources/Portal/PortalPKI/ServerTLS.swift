import NIOSSL

extension PortalAuthority {
    /// The core listener's TLS configuration: its server certificate (re-issued as needed), client
    /// certificates required and offered against the portal CA only. Pair it with
    /// ``KioskVerifier/makeServerHandler(context:)``, which does the actual verification.
    public func serverTLSConfiguration(names: [String]) throws(PKIError) -> TLSConfiguration {
        let credentials = try serverCredentials(names: names)
        do {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(credentials.certificatePath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: credentials.keyPath, format: .pem)))
            // Kiosks are not addressed by host name: their identity is the CN the verifier reads.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: try PEMFiles.der(certificate), format: .der)])
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch let error as PKIError {
            throw error
        } catch {
            throw .file(path: credentials.certificatePath, reason: "NIOSSL cannot load the server credentials: \(error)")
        }
    }
}
