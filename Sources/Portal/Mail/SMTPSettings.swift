import NIOCore
import NIOSSL

/// The hospital's SMTP relay and how to talk to it.
public struct SMTPSettings: Sendable, CustomStringConvertible {
    public enum Security: String, Sendable, Hashable {
        /// Plain connection, upgraded with STARTTLS (RFC 3207) before anything else; refused when not offered.
        case startTLS
        /// TLS from the first byte ("submissions", RFC 8314; usually port 465).
        case implicitTLS
        /// No TLS: for a relay on this machine or a trusted segment. AUTH is then allowed only to a loopback relay.
        case none
    }

    /// How the relay's certificate is checked.
    public struct TLS: Sendable, Hashable {
        public enum TrustRoots: Sendable, Hashable {
            /// The system's CA bundle.
            case system
            /// A PEM file of the CAs that may sign the relay's certificate (a hospital CA).
            case caFile(String)
        }

        public var trustRoots: TrustRoots
        /// The name the relay's certificate must carry; nil: the host (an IP address is checked against the
        /// certificate's IP addresses).
        public var serverName: String?

        public init(trustRoots: TrustRoots = .system, serverName: String? = nil) {
            self.trustRoots = trustRoots
            self.serverName = serverName
        }
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// The name we give in EHLO: this machine's fully qualified name (relays may check it).
    public var heloName: String
    public var connectTimeout: TimeAmount = .seconds(10)
    /// How long one reply may take (RFC 5321 §4.5.3.2 suggests minutes; relays that greylist or scan take time).
    public var commandTimeout: TimeAmount = .seconds(60)
    /// How long a whole send may take, from connecting to the end of data.
    public var totalTimeout: TimeAmount = .seconds(300)
    public var tls: TLS

    /// `port` nil: 587 for STARTTLS, 465 for implicit TLS, 25 without TLS.
    public init(host: String, port: Int? = nil, security: Security, heloName: String, username: String? = nil,
                password: String? = nil, tls: TLS = TLS()) {
        self.host = host
        self.port = port ?? (security == .startTLS ? 587 : security == .implicitTLS ? 465 : 25)
        self.security = security; self.heloName = heloName
        self.username = username; self.password = password; self.tls = tls
    }

    /// "host:port", as errors name the relay.
    public var server: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Everything but the password.
    public var description: String {
        "SMTP \(server) security \(security.rawValue), helo \(heloName)" + (username.map { ", user \($0), password set" } ?? "")
    }

    /// Whether the relay is this machine, where a clear-text password never crosses a network.
    var isLoopback: Bool {
        if host.lowercased() == "localhost" { return true }
        guard let address = try? SocketAddress(ipAddress: host, port: 0) else { return false }
        if case .v4 = address { return host.hasPrefix("127.") }
        return address.ipAddress == "::1"
    }

    /// The settings' own contradictions, before any connection.
    func validate() throws(MailError) {
        guard !host.isEmpty, !host.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) else {
            throw .invalidSettings("the relay host \"\(Printable.text(host))\" is empty or contains spaces or control characters")
        }
        guard (1...65535).contains(port) else { throw .invalidSettings("the relay port \(port) is not between 1 and 65535") }
        guard !heloName.isEmpty, heloName.utf8.count <= 255,
              heloName.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }) else {
            throw .invalidSettings("the EHLO name \"\(Printable.text(heloName))\" must be this machine's host name (printable ASCII, no spaces)")
        }
        switch (username, password) {
        case (nil, nil): break
        case (.some, nil), (nil, .some): throw .invalidSettings("give both a user name and a password, or neither")
        case let (.some(user), .some(secret)):
            guard !user.isEmpty, !secret.isEmpty, !user.contains("\0"), !secret.contains("\0") else {
                throw .invalidSettings("the user name and password must be non-empty and contain no NUL character")
            }
            if security == .none && !isLoopback {
                throw .invalidSettings("a password would cross the network to \(server) in clear text: use security startTLS or implicitTLS (AUTH without TLS is allowed only to a relay on this machine)")
            }
        }
        for timeout in [connectTimeout, commandTimeout, totalTimeout] where timeout.nanoseconds <= 0 {
            throw .invalidSettings("timeouts must be positive")
        }
    }

    func makeTLSContext() throws(MailError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch tls.trustRoots {
        case .system: configuration.trustRoots = .default
        case let .caFile(path): configuration.trustRoots = .file(path)
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            let file = if case let .caFile(path) = tls.trustRoots { " (CA file \(path): does it exist, readable, in PEM?)" } else { "" }
            throw .invalidSettings("cannot set up TLS\(file): \(error)")
        }
    }

    /// The name the certificate is checked against; nil for an IP address (checked against the certificate's IP
    /// addresses), since SNI carries no address.
    var tlsServerName: String? {
        if let serverName = tls.serverName { return serverName }
        return (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}
