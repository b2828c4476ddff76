import Foundation

/// The e-mail inviting a patient to the portal: friendly plain text and the same in simple HTML. It carries the
/// greeting name, the hospital, the link and its expiry, and what the patient will need; no other patient data.
public struct InvitationMail: Sendable, Equatable {
    public let subject: String
    public let text: String
    public let html: String

    /// - Parameters:
    ///   - name: the registered name, DICOM `Family^Given` (greeted as "Given Family").
    ///   - link: `PUBLIC_URL/enrol.html#token=TOKEN`.
    public init(name: String, hospital: String, link: String, expiresAt: Date) {
        let greeting = Self.greetingName(name)
        let expiry = Self.expiry(expiresAt)
        subject = "Your invitation to send your images to \(hospital)"
        let paragraphs = [
            "Dear \(greeting),",
            "\(hospital) has invited you to its patient portal, where you can send the medical images from your own discs (CT, MRI, X-ray and similar) to the hospital from home.",
            "To set up your account, open this link:",
            link,
            "The link works once and until \(expiry). If it has expired, ask the hospital for a new invitation.",
            "You will need:\n- your date of birth, to confirm the invitation is yours;\n- a password you choose;\n- a phone with an authenticator app, or a passkey (for example your phone's or computer's screen lock), as a second step when you sign in.",
            "If you did not expect this e-mail, you can ignore it: nothing happens unless the link is used.",
            "With kind regards,\n\(hospital)",
        ]
        text = paragraphs.joined(separator: "\n\n") + "\n"
        let escapedLink = Self.escape(link)
        html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(subject))</title></head>
            <body>
            <p>Dear \(Self.escape(greeting)),</p>
            <p>\(Self.escape(hospital)) has invited you to its patient portal, where you can send the medical images from your own discs (CT, MRI, X-ray and similar) to the hospital from home.</p>
            <p><a href="\(escapedLink)">Set up your account</a></p>
            <p>Or copy this address into your browser:<br>\(escapedLink)</p>
            <p>The link works once and until \(Self.escape(expiry)). If it has expired, ask the hospital for a new invitation.</p>
            <p>You will need:</p>
            <ul>
            <li>your date of birth, to confirm the invitation is yours;</li>
            <li>a password you choose;</li>
            <li>a phone with an authenticator app, or a passkey (for example your phone's or computer's screen lock), as a second step when you sign in.</li>
            </ul>
            <p>If you did not expect this e-mail, you can ignore it: nothing happens unless the link is used.</p>
            <p>With kind regards,<br>\(Self.escape(hospital))</p>
            </body></html>

            """
    }

    /// "FAMILY^Given^Middle" as "Given Middle Family"; a name without components as it is; a name registered in
    /// capitals (as DICOM names often are) written as people write names ("DOE^JANE" → "Jane Doe").
    static func greetingName(_ name: String) -> String {
        let parts = (name.split(separator: "=").first.map(String.init) ?? name).split(separator: "^", omittingEmptySubsequences: false).map(String.init)
        let given = parts.count > 1 ? parts[1...].prefix(2).filter { !$0.isEmpty } : []
        let greeting = parts.count > 1 ? (given + [parts[0]]).joined(separator: " ") : name
        return greeting == greeting.uppercased() ? greeting.capitalized : greeting
    }

    /// "25 November 2026 at 14:03 UTC": fixed words, whatever the server's locale.
    static func expiry(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let month = (c.month.map { months[($0 - 1) % 12] }) ?? ""
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.day ?? 0) \(month) \(c.year ?? 0) at \(two(c.hour)):\(two(c.minute)) UTC"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
