import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// Why a network engine gave no verdict. The Protector treats each as "not known clean".
public enum EngineFailure: Error, Equatable {
    case connect(errno: Int32)
    case io(errno: Int32)
    case timeout
    case reply(String)
}

/// One blocking stream connection to an engine (clamd's unix socket, an ICAP gateway's TCP
/// port) with send and receive deadlines; its `Descriptor` closes it when released.
struct EngineSocket {
    private let socket: Descriptor
    private var fd: Int32 { socket.rawValue }

    private init(domain: Int32, type: Int32, protocol: Int32, timeout: TimeInterval) throws {
        do { socket = try Descriptor.socket(domain, type, `protocol`) } catch { throw EngineFailure.connect(errno: error.rawValue) }
        var deadline = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
    }

    static func unix(path: String, timeout: TimeInterval) throws -> EngineSocket {
        let connection = try EngineSocket(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), protocol: 0, timeout: timeout)
        let fd = connection.fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw EngineFailure.connect(errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw EngineFailure.connect(errno: errno) }
        return connection
    }

    static func tcp(host: String, port: UInt16, timeout: TimeInterval) throws -> EngineSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else { throw EngineFailure.connect(errno: EHOSTUNREACH) }
        defer { freeaddrinfo(info) }
        let connection = try EngineSocket(domain: first.pointee.ai_family, type: first.pointee.ai_socktype, protocol: first.pointee.ai_protocol,
                                          timeout: timeout)
        let fd = connection.fd
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { throw EngineFailure.connect(errno: errno) }
        return connection
    }

    func send<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        let array = Array(bytes)
        var done = 0
        while done < array.count {
            let n = array.withUnsafeBytes { bytes in
                retryingOnInterrupt { Glibc.send(fd, bytes.baseAddress! + done, array.count - done, Int32(MSG_NOSIGNAL)) }
            }
            if n < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? EngineFailure.timeout : EngineFailure.io(errno: errno) }
            done += n
        }
    }

    /// Reads until `complete` finds the end of the reply in what has arrived (returning where
    /// it ends), the peer closes, or `limit` bytes arrived.
    func receive(limit: Int, complete: ([UInt8]) -> Int?) throws -> [UInt8] {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while reply.count < limit {
            let n = buffer.withUnsafeMutableBytes { bytes in retryingOnInterrupt { recv(fd, bytes.baseAddress!, bytes.count, 0) } }
            if n < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? EngineFailure.timeout : EngineFailure.io(errno: errno) }
            if n == 0 { break }
            reply += buffer[0..<n]
            if let end = complete(reply) { return Array(reply[0..<end]) }
        }
        if reply.isEmpty { throw EngineFailure.reply("connection closed without a reply") }
        return reply
    }
}
