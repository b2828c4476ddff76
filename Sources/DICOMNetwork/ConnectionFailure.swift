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

/// Keeps the first error the TLS handler reports, so that a handshake that fails while a write is
/// pending is explained by its real reason rather than by "I/O on closed channel" from the write.
final class TLSFailureRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    private let first = NIOLockedValueBox<(any Error)?>(nil)

    var error: (any Error)? { first.withLockedValue { $0 } }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        first.withLockedValue { if $0 == nil { $0 = error } }
        context.fireErrorCaught(error)
    }
}
