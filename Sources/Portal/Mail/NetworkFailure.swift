import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Why the connection to the relay failed, in words hospital IT can act on: refused, unreachable, DNS,
/// timed out, reset, and for TLS: not trusted, expired, wrong name, no common protocol, not TLS at all.
enum NetworkFailure {
    /// The sentence for a network or TLS error, or nil when it is none of theirs.
    static func explain(_ error: any Error, server: String, trust: SMTPSettings.TLS.TrustRoots) -> String? {
        switch error {
        case let error as NIOConnectionError:
            // One attempt per resolved address: the first one's reason speaks for all.
            if let first = error.connectionErrors.first { return explain(first.error, server: server, trust: trust) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "the host name \(error.host) cannot be resolved (DNS)" }
            return nil
        case let error as IOError:
            return explain(errno: error.errnoCode, server: server)
        case let error as ChannelError:
            switch error {
            case let .connectTimeout(amount):
                return "no answer within \(amount.nanoseconds / 1_000_000_000) s (the host is down, or a firewall drops the connection)"
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed, .inputClosed:
                return "the connection was closed by \(server)"
            default:
                return nil
            }
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the certificate of \(server) does not carry the name we connect to (check the relay host, the TLS server name setting, or the certificate's subjectAltName)"
        case let error as NIOSSLError:
            if case .uncleanShutdown = error { return "\(server) closed the connection in the middle of the TLS exchange" }
            return tls(String(describing: error), server: server, trust: trust)
        case let error as BoringSSLError:
            return tls(String(describing: error), server: server, trust: trust)
        default:
            return nil
        }
    }

    static func explain(errno code: Int32, server: String) -> String? {
        switch code {
        case ECONNREFUSED: "connection refused: nothing accepts connections at \(server) (is the relay running, are the host and port right?)"
        case ETIMEDOUT: "timed out: no answer from \(server) (the host is down, or a firewall drops the connection)"
        case ECONNRESET: "the connection was reset by \(server)"
        case EPIPE: "the connection was closed by \(server)"
        case EHOSTUNREACH, ENETUNREACH: "no route to \(server) (network or address wrong)"
        case EADDRNOTAVAIL: "the address of \(server) cannot be used from this machine"
        default: nil
        }
    }

    static func isTLS(_ error: any Error) -> Bool {
        error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
    }

    /// BoringSSL's reason codes (they appear in the error's text) in words. An alert names what the relay
    /// refused; a local reason what we refused.
    static func tls(_ text: String, server: String, trust: SMTPSettings.TLS.TrustRoots) -> String {
        let reason = text.uppercased()
        func has(_ any: String...) -> Bool { any.contains { reason.contains($0) } }
        let sentence: String
        if has("CERTIFICATE_VERIFY_FAILED") {
            sentence = "the certificate of \(server) is not trusted: it is not signed by \(trusted(trust)), or it has expired or is not yet valid"
        } else if has("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG") {
            sentence = "\(server) does not speak TLS here (implicit TLS is usually port 465; ports 25 and 587 use STARTTLS)"
        } else if has("UNSUPPORTED_PROTOCOL", "ALERT_PROTOCOL_VERSION", "PROTOCOL_VERSION") {
            sentence = "no TLS protocol version in common with \(server) (TLS 1.2 or newer is required)"
        } else if has("NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH", "ALERT_HANDSHAKE_FAILURE", "NO_COMMON_SIGNATURE_ALGORITHMS",
                      "ALERT_INSUFFICIENT_SECURITY") {
            sentence = "no cipher suite in common with \(server)"
        } else {
            sentence = "the TLS handshake with \(server) failed"
        }
        return "\(sentence) [\(text)]"
    }

    static func trusted(_ trust: SMTPSettings.TLS.TrustRoots) -> String {
        switch trust {
        case .system: "a CA of this system's trust store (for a hospital CA, set the CA file)"
        case let .caFile(path): "a CA in \(path)"
        }
    }
}

/// The first error of a TLS handshake and, when the relay's certificate failed verification, its validity
/// (BoringSSL says only "CERTIFICATE_VERIFY_FAILED"), to tell "expired" from "unknown CA".
struct TLSFailure: Error {
    var error: any Error
    var notValidBefore: time_t?
    var notValidAfter: time_t?

    func explain(server: String, trust: SMTPSettings.TLS.TrustRoots, now: time_t = time(nil)) -> String {
        guard "\(error)".contains("CERTIFICATE_VERIFY_FAILED"), let notValidBefore, let notValidAfter else {
            return NetworkFailure.explain(error, server: server, trust: trust) ?? "\(error)"
        }
        let sentence = if now > notValidAfter {
            "the certificate of \(server) expired on \(Self.day(notValidAfter))"
        } else if now < notValidBefore {
            "the certificate of \(server) is not valid before \(Self.day(notValidBefore)) (or this machine's clock is wrong)"
        } else {
            "the certificate of \(server) is not trusted: it is not signed by \(NetworkFailure.trusted(trust))"
        }
        return "\(sentence) [\(error)]"
    }

    static func day(_ time: time_t) -> String {
        var value = time, parts = tm()
        gmtime_r(&value, &parts)
        func two(_ number: Int32) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return "\(Int(parts.tm_year) + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }
}
