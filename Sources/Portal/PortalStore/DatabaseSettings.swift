import Foundation
import PostgresNIO

/// Where the portal's database is and how to reach it: the embedded cluster's socket, or a shared server
/// named by a `postgres://` URL. One machine and ten differ only in this value.
public struct DatabaseSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case unixSocket(path: String)
        case tcp(host: String, port: Int)
    }

    /// libpq's `sslmode` names. `require` and `verify-full` both verify the server's certificate and name
    /// (never encrypt without knowing to whom); `prefer` falls back to plain text, for local servers only.
    public enum TLSMode: String, Sendable, Equatable {
        case disable
        case prefer
        case require
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// PEM file of the CA that signed the server's certificate; the system's trust store when nil.
    public var caFile: String?

    public init(endpoint: Endpoint, username: String, password: String?, database: String, tls: TLSMode, caFile: String? = nil) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.caFile = caFile
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…`; `?host=/dir` names a
    /// socket directory instead of a host, as libpq does.
    public init(url: String) throws(DatabaseSettingsError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else { throw .notAPostgresURL }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys where !["sslmode", "sslrootcert", "host"].contains(name) {
            throw .unsupportedParameter(name)
        }
        let port = components.port ?? 5432
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            endpoint = .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
        } else if let host = components.host, !host.isEmpty {
            endpoint = .tcp(host: host, port: port)
        } else {
            throw .missing("host")
        }
        guard let user = components.user, !user.isEmpty else { throw .missing("user") }
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = String(components.path.drop(while: { $0 == "/" }))
        guard !path.isEmpty else { throw .missing("database") }
        database = path.removingPercentEncoding ?? path
        if let mode = query["sslmode"] {
            guard let parsed = TLSMode(rawValue: mode) else { throw .unsupportedTLSMode(mode) }
            tls = parsed
        } else {
            tls = .verifyFull
        }
        caFile = query["sslrootcert"]
        if case .unixSocket = endpoint { tls = .disable }
    }

    /// The configuration for postgres-nio's pool.
    public func clientConfiguration() throws(DatabaseSettingsError) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: try tlsConfiguration())
        }
        // Keep-alive pings find connections a restarted server has closed before a query does.
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        return configuration
    }

    private func tlsConfiguration() throws(DatabaseSettingsError) -> PostgresClient.Configuration.TLS {
        var client = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw .unreadableCAFile(caFile, "\(error)")
            }
        }
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(client)
        case .require, .verifyFull: return .require(client)
        }
    }

    /// Never shows the password.
    public var description: String {
        let place = switch endpoint {
        case .unixSocket(let path): "socket \(path)"
        case .tcp(let host, let port): "\(host):\(port) (TLS \(tls.rawValue))"
        }
        return "database \(database) as \(username) at \(place)"
    }
}

public enum DatabaseSettingsError: Error, Equatable, CustomStringConvertible {
    case notAPostgresURL
    case missing(String)
    case unsupportedParameter(String)
    case unsupportedTLSMode(String)
    case unreadableCAFile(String, String)

    public var description: String {
        switch self {
        case .notAPostgresURL: "database url: expected postgres://user@host:port/database"
        case .missing(let part): "database url: no \(part)"
        case .unsupportedParameter(let name): "database url: unsupported parameter \(name) (known: sslmode, sslrootcert, host)"
        case .unsupportedTLSMode(let mode): "database url: sslmode \(mode) is not one of disable, prefer, require, verify-full"
        case .unreadableCAFile(let path, let reason): "database url: cannot read sslrootcert \(path): \(reason)"
        }
    }
}
