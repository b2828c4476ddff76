import NIOCore

/// A step of the SMTP conversation (RFC 5321), as errors name where a send stopped.
public enum SMTPStage: Sendable, Hashable, CustomStringConvertible {
    case connect
    case greeting
    case ehlo
    case helo
    case startTLS
    case authentication
    case mailFrom
    case recipient(String)
    case data
    case endOfData

    public var description: String {
        switch self {
        case .connect: "connecting"
        case .greeting: "the greeting (220)"
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .startTLS: "STARTTLS"
        case .authentication: "AUTH"
        case .mailFrom: "MAIL FROM"
        case let .recipient(address): "RCPT TO <\(address)>"
        case .data: "DATA"
        case .endOfData: "the end of the message data"
        }
    }
}

/// What an SMTP relay answered: the three-digit code and the text of each line (RFC 5321 §4.2).
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    public let code: Int
    public let lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// 4xx: the relay may accept later; 5xx: refused for good.
    public var isTransient: Bool { code >= 400 && code < 500 }

    public var description: String { "\(code) \(lines.joined(separator: " / "))" }
}

/// Why a message was not handed to the relay. Each description says what happened and what hospital IT can
/// check; none contains the password.
public enum MailError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An address the portal was given is not one we can put in an envelope or a header.
    case invalidAddress(String, reason: String)
    /// The message cannot be sent as it stands (no recipient).
    case invalidMessage(String)
    /// The SMTP settings contradict themselves or would send the password in clear text.
    case invalidSettings(String)
    /// No TCP connection: refused, unreachable, DNS, timed out.
    case connect(server: String, reason: String)
    /// The relay did not answer within the command timeout (`whole`: within the whole operation's deadline).
    case timeout(server: String, stage: SMTPStage, after: TimeAmount, whole: Bool)
    /// The TLS handshake failed: certificate not trusted, wrong name, no common protocol.
    case tls(server: String, reason: String)
    /// The relay's EHLO did not offer STARTTLS although the settings require it.
    case startTLSNotOffered(server: String)
    /// The relay sent more data after its STARTTLS answer and before the handshake: a command injection attempt.
    case startTLSInjection(server: String)
    /// Credentials are set but the relay offers no AUTH mechanism we use (PLAIN, LOGIN).
    case authenticationNotOffered(server: String, offered: [String])
    /// The relay refused the user name and password.
    case authenticationRefused(server: String, reply: SMTPReply)
    /// The relay refused one recipient.
    case recipientRefused(server: String, address: String, reply: SMTPReply)
    /// The relay answered a step with an error code.
    case rejected(server: String, stage: SMTPStage, reply: SMTPReply)
    /// The relay's answer is not an SMTP reply (or too long: a line over 512 octets, over 100 lines).
    case malformedReply(server: String, stage: SMTPStage, reason: String)
    /// The relay closed the connection (or it was reset) before the step's answer.
    case closed(server: String, stage: SMTPStage, reason: String?)

    /// Worth trying again later: the relay is down, busy or answered 4xx.
    public var isTransient: Bool {
        switch self {
        case .connect, .timeout, .closed: true
        case let .rejected(_, _, reply), let .recipientRefused(_, _, reply), let .authenticationRefused(_, reply): reply.isTransient
        case .invalidAddress, .invalidMessage, .invalidSettings, .tls, .startTLSNotOffered, .startTLSInjection,
             .authenticationNotOffered, .malformedReply: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidAddress(address, reason):
            "invalid e-mail address \"\(Printable.text(address))\": \(reason)"
        case let .invalidMessage(why):
            "the message cannot be sent: \(why)"
        case let .invalidSettings(why):
            "SMTP settings: \(why)"
        case let .connect(server, reason):
            "cannot connect to the SMTP relay \(server): \(reason)"
        case let .timeout(server, stage, after, whole):
            whole
                ? "the SMTP relay \(server) did not finish within \(Self.seconds(after)) (stopped at \(stage)): it is overloaded, or the network drops packets"
                : "no answer from the SMTP relay \(server) to \(stage) within \(Self.seconds(after)) (is this port an SMTP service, with the right security: implicit TLS vs STARTTLS? does a firewall hold the connection?)"
        case let .tls(server, reason):
            "TLS with the SMTP relay \(server) failed: \(reason)"
        case let .startTLSNotOffered(server):
            "the SMTP relay \(server) does not offer STARTTLS: enable it on the relay, or use implicit TLS (usually port 465)"
        case let .startTLSInjection(server):
            "the SMTP relay \(server), or something between us, sent data after its STARTTLS answer and before the TLS handshake; connection dropped (a command injection attempt or a broken relay)"
        case let .authenticationNotOffered(server, offered):
            offered.isEmpty
                ? "the SMTP relay \(server) offers no authentication (AUTH) although a user name is configured: remove the user name, or enable AUTH on the relay (many relays offer it only after STARTTLS)"
                : "the SMTP relay \(server) offers AUTH \(offered.joined(separator: " ")) but not PLAIN or LOGIN, which this client uses"
        case let .authenticationRefused(server, reply):
            "the SMTP relay \(server) refused the user name or password (\(Printable.text(reply.description))): check the account and its password"
        case let .recipientRefused(server, address, reply):
            "the SMTP relay \(server) refused the recipient <\(address)> (\(Printable.text(reply.description)))"
                + (reply.isTransient ? "; it may accept it later" : ": check the address, and whether the relay lets this sender send to that domain")
        case let .rejected(server, stage, reply):
            "the SMTP relay \(server) refused \(stage) (\(Printable.text(reply.description)))" + Self.hint(stage, reply)
        case let .malformedReply(server, stage, reason):
            "the answer of \(server) to \(stage) is not an SMTP reply: \(reason) (is this port an SMTP service, with the right security?)"
        case let .closed(server, stage, reason):
            "the SMTP relay \(server) closed the connection during \(stage)" + (reason.map { " (\($0))" } ?? "")
        }
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }

    private static func hint(_ stage: SMTPStage, _ reply: SMTPReply) -> String {
        if reply.isTransient { return "; it may accept later" }
        if reply.code == 530 { return ": the relay requires authentication (set the user name and password)" }
        switch stage {
        case .greeting: return ": the relay does not take mail from this machine"
        case .mailFrom: return ": check that the relay accepts this sender address from this machine"
        case .endOfData: return ": the relay refused the message itself (size, content or policy)"
        default: return ""
        }
    }
}

/// Text from the network or from input, made safe for one log line: control characters become "?", and it is
/// cut at 300 characters.
enum Printable {
    static func text(_ value: String) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: value.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 })
        let cleaned = String(scalars)
        return cleaned.count > 300 ? String(cleaned.prefix(300)) + "…" : cleaned
    }
}
