import PortalConfiguration
import PortalCore

extension InvitationMailer {
    /// The relay `[mail]` names; `patient invite` and `core` (for the console) both send through it.
    init(_ mail: PortalConfiguration.MailSettings) throws(SetupError) {
        try self.init(host: mail.host, port: mail.port, security: mail.security, username: mail.username, passwordFile: mail.passwordFile,
                      from: mail.from, fromName: mail.fromName, caFile: mail.caFile)
    }
}
