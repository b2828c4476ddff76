import AsyncHTTPClient
import NIOSSL

/// An HTTPS client for a test's own server: no retried connections (the server is up, or the test fails).
public func testHTTPClient(_ tls: TLSConfiguration) -> HTTPClient {
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

/// The same, trusting only the certificate in the PEM file at `certificate` (a site's made certificate), as a browser
/// told to trust it would.
public func testHTTPClient(trusting certificate: String) throws -> HTTPClient {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
    return testHTTPClient(tls)
}
