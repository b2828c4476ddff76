import Foundation
import Mail

/// Sends invitation e-mails through the hospital's relay (`[mail]`), for `patient invite` and the console alike. The
/// relay password is read from its file when a message is sent (a rotated password needs no restart), and never
/// printed or logged.
public struct InvitationMailer: Sendable {
    public enum SetupError: Error, Equatable, CustomStringConvertible {
        case noHost
        case noFrom
        case passwordWithoutUsername
        case badFrom(String)
        case badSecurity(String)

        public var description: String {
            switch self {
            case .noHost: "[mail] host is not set: name the hospital's relay (or hand invitation links over in person)"
            case .noFrom: "[mail] from is not set: the address invitations come from"
            case .passwordWithoutUsername: "[mail] password_file needs [mail] username"
            case .badFrom(let why): "[mail] from: \(why)"
            case .badSecurity(let value): "[mail] security is '\(value)': use starttls, tls or none"
            }
        }
    }

    /// Why a password file could not be read.
    public struct SecretError: Error, CustomStringConvertible {
        public let description: String
    }

    let settings: SMTPSettings
    let from: MailAddress
    let passwordFile: String?

    /// - Parameters:
    ///   - security: `starttls`, `tls` or `none`, as `[mail] security` is written.
    ///   - passwordFile: the relay password alone in a file (needs `username`).
    ///   - caFile: PEM CAs the relay's certificate is checked against; nil: the system's.
    public init(host: String?, port: Int, security: String, username: String?, passwordFile: String?, from: String?, fromName: String?,
                caFile: String?, heloName: String = ProcessInfo.processInfo.hostName) throws(SetupError) {
        guard let host, !host.isEmpty else { throw .noHost }
        guard let from else { throw .noFrom }
        if passwordFile != nil && username == nil { throw .passwordWithoutUsername }
        let mode: SMTPSettings.Security = switch security {
        case "starttls": .startTLS
        case "tls": .implicitTLS
        case "none": .none
        default: throw SetupError.badSecurity(security)
        }
        do { self.from = try MailAddress(from, name: fromName) } catch { throw .badFrom("\(error)") }
        settings = SMTPSettings(host: host, port: port, security: mode, heloName: heloName, username: username,
                                tls: .init(trustRoots: caFile.map { .caFile($0) } ?? .system))
        self.passwordFile = passwordFile
    }

    public func send(_ invitation: InvitationMail, to address: String) async throws {
        var settings = settings
        settings.password = try passwordFile.map(Self.readSecret)
        let message = MailMessage(from: from, to: [try MailAddress(address)], subject: invitation.subject, text: invitation.text,
                                  html: invitation.html)
        try await SMTPClient(settings: settings).send(message)
    }

    static func readSecret(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SecretError(description: "[mail] password_file: cannot read \(path)")
        }
        guard data.count <= 4096, var text = String(data: data, encoding: .utf8) else {
            throw SecretError(description: "[mail] password_file: \(path) is not a short UTF-8 text file")
        }
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw SecretError(description: "[mail] password_file: \(path) is empty") }
        return text
    }
}
