import Foundation
import Mail
import PortalConfiguration
import PortalCore

/// Sends invitation e-mails through the hospital's relay (`[mail]`). The relay password is read from its file when a
/// message is sent, and never printed or logged.
struct InvitationSender {
    let mail: PortalConfiguration.MailSettings
    let host: String
    let from: MailAddress
    let options: PortalOptions

    /// Exits 2 naming the missing key when `[mail]` cannot send.
    init(_ mail: PortalConfiguration.MailSettings, options: PortalOptions) throws {
        guard let host = mail.host else {
            fail("[mail] host is not set: name the hospital's relay, or give --print-link to hand the link over in person", status: .usage)
        }
        guard let fromAddress = mail.from else { fail("[mail] from is not set: the address invitations come from", status: .usage) }
        if mail.passwordFile != nil && mail.username == nil { fail("[mail] password_file needs [mail] username", status: .usage) }
        do { from = try MailAddress(fromAddress, name: mail.fromName) } catch { fail("[mail] from: \(error)", status: .usage) }
        self.mail = mail
        self.host = host
        self.options = options
    }

    func send(_ invitation: InvitationMail, to address: String) async throws {
        let security: SMTPSettings.Security = switch mail.security {
        case "tls": .implicitTLS
        case "none": .none
        default: .startTLS
        }
        let password = try mail.passwordFile.map { try options.readSecret($0, key: "[mail] password_file") }
        let settings = SMTPSettings(
            host: host, port: mail.port, security: security, heloName: ProcessInfo.processInfo.hostName,
            username: mail.username, password: password, tls: .init(trustRoots: mail.caFile.map { .caFile($0) } ?? .system))
        let message = MailMessage(from: from, to: [try MailAddress(address)], subject: invitation.subject, text: invitation.text,
                                  html: invitation.html)
        try await SMTPClient(settings: settings).send(message)
    }
}
