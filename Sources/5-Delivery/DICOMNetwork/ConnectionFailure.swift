import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Why a connection to a peer failed, in words staff and IT can act on: refused, timed out, reset,
/// no shared cipher suite or protocol version, certificate not trusted, expired or naming another
/// host. DICOM associations and (through Delivery) STOW-RS use it; the sentence goes into the
/// echo answer, the spool's last error and the session report.
public enum ConnectionFailure {
    /// The sentence for `error` from talking to `peer` ("host:port"), or nil when it is none of the
    /// network's or TLS's own failures.
    public static func explain(_ error: any Error, peer: String) -> String? {
        switch error {
        case let error as NIOConnectionError:
            // One attempt per resolved address: the first real reason speaks for all.
            if let first = error.connectionErrors.first { return explain(first.error, peer: peer) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "the host name \(error.host) cannot be resolved (DNS)" }
            return nil
        case let error as IOError:
            return explain(errno: error.errnoCode, peer: peer)
        case let error as ChannelError:
            switch error {
            case let .connectTimeout(amount):
                return "timed out: no answer from \(peer) within \(amount.nanoseconds / 1_000_000_000) s (the host is down, or a firewall drops the connection)"
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed, .inputClosed:
                return "the connection was closed by \(peer)"
            default:
                return nil
            }
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the certificate of \(peer) does not name this host or address (check the host in the destination, or the certificate's subjectAltName)"
        case let error as NIOSSLError:
            switch error {
            case let .handshakeFailed(reason): return tls(String(describing: reason), peer: peer)
            case .uncleanShutdown: return "\(peer) closed the connection in the middle of the TLS exchange"
            default: return tls(String(describing: error), peer: peer)
            }
        case let error as BoringSSLError:
            return tls(String(describing: error), peer: peer)
        default:
            return nil
        }
    }

    static func explain(errno code: Int32, peer: String) -> String? {
        switch code {
        case ECONNREFUSED: "connection refused: nothing accepts connections at \(peer) (is the service running, is the port right?)"
        case ETIMEDOUT: "timed out: no answer from \(peer) (the host is down, or a firewall drops the connection)"
        case ECONNRESET: "the connection was reset by \(peer)"
        case EPIPE: "the connection was closed by \(peer)"
        case EHOSTUNREACH, ENETUNREACH: "no route to \(peer) (network or address wrong)"
        case EADDRNOTAVAIL: "the address of \(peer) cannot be used from this machine"
        default: nil
        }
    }

    /// BoringSSL's reason codes (they appear in the error stack's text) in words. An alert names
    /// what the *peer* refused; a local reason what we refused.
    static func tls(_ text: String, peer: String) -> String {
        let reason = text.uppercased()
        func has(_ any: String...) -> Bool { any.contains { reason.contains($0) } }
        let sentence: String
        if has("CERTIFICATE_VERIFY_FAILED") {
            sentence = "the certificate of \(peer) is not trusted: it is not signed by a CA in [tls] ca_file (unknown CA), or it has expired or is not yet valid"
        } else if has("NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH", "ALERT_HANDSHAKE_FAILURE", "NO_COMMON_SIGNATURE_ALGORITHMS",
                      "ALERT_INSUFFICIENT_SECURITY") {
            sentence = "no cipher suite in common with \(peer): it offers only suites BCP 195 does not recommend, or none we accept"
        } else if has("UNSUPPORTED_PROTOCOL", "ALERT_PROTOCOL_VERSION", "PROTOCOL_VERSION") {
            sentence = "no TLS protocol version in common with \(peer) (TLS 1.2 or newer is required)"
        } else if has("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL") {
            sentence = "\(peer) does not speak TLS on this port (a plain connection is expected there?)"
        } else if has("ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN") {
            sentence = "\(peer) does not trust our client certificate ([tls] certificate_file): its CA is unknown to the peer"
        } else if has("ALERT_CERTIFICATE_REQUIRED", "PEER_DID_NOT_RETURN_A_CERTIFICATE") {
            sentence = "\(peer) requires a client certificate: set [tls] certificate_file and private_key_file"
        } else if has("ALERT_CERTIFICATE_EXPIRED") {
            sentence = "\(peer) says our client certificate ([tls] certificate_file) has expired"
        } else if has("ALERT_CERTIFICATE_REVOKED") {
            sentence = "\(peer) says our client certificate ([tls] certificate_file) is revoked"
        } else if has("ALERT_ACCESS_DENIED") {
            sentence = "\(peer) refused the TLS connection (access denied)"
        } else {
            sentence = "the TLS handshake with \(peer) failed"
        }
        return "\(sentence) [\(text)]"
    }
}

/// The first error the TLS handler reported and, when the peer's certificate failed
/// verification, that certificate's validity (BoringSSL says only "CERTIFICATE_VERIFY_FAILED").
struct TLSFailure: Sendable {
    var error: any Error
    var notValidBefore: time_t?
    var notValidAfter: time_t?

    /// The sentence, with the certificate's dates telling "expired" from "unknown CA".
    func explain(peer: String, now: time_t = time(nil)) -> String? {
        guard "\(error)".contains("CERTIFICATE_VERIFY_FAILED"), let notValidBefore, let notValidAfter else {
            return ConnectionFailure.explain(error, peer: peer)
        }
        let sentence: String
        if now > notValidAfter {
            sentence = "the certificate of \(peer) expired on \(Self.day(notValidAfter))"
        } else if now < notValidBefore {
            sentence = "the certificate of \(peer) is not valid before \(Self.day(notValidBefore)) (or this machine's clock is wrong)"
        } else {
            sentence = "the certificate of \(peer) is not trusted: it is not signed by a CA in [tls] ca_file (unknown CA)"
        }
        return "\(sentence) [\(error)]"
    }

    static func day(_ time: time_t) -> String {
        var value = time, parts = tm()
        gmtime_r(&value, &parts)
        return String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }
}

/// Keeps the first error the TLS handler reports, so that a handshake that fails while a write is
/// pending is explained by its real reason rather than by "I/O on closed channel" from the write.
/// The handshake's error arrives while BoringSSL still holds the certificate the peer sent.
final class TLSFailureRecorder: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let tls: NIOSSLClientHandler
    private let failure: NIOLockedValueBox<TLSFailure?>

    init(tls: NIOSSLClientHandler, failure: NIOLockedValueBox<TLSFailure?>) {
        self.tls = tls
        self.failure = failure
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure.withLockedValue({ $0 == nil }) {
            var first = TLSFailure(error: error)
            if "\(error)".contains("CERTIFICATE_VERIFY_FAILED"), let certificate = tls.peerCertificate {
                first.notValidBefore = certificate.notValidBefore
                first.notValidAfter = certificate.notValidAfter
            }
            failure.withLockedValue { $0 = first }
        }
        context.fireErrorCaught(error)
    }
}
