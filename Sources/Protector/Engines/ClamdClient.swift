import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// clamd over its unix socket with the INSTREAM command: `zINSTREAM\0`, then chunks of a
/// 4-byte big-endian length and the data, ended by a zero-length chunk; the reply is
/// `stream: OK`, `stream: NAME FOUND`, or `… ERROR` (e.g. over clamd's StreamMaxLength).
public struct ClamdClient: MalwareEngine {
    public let socketPath: String
    /// Per-scan deadline for connect, send and reply.
    public let timeout: TimeInterval
    public var name: String { "clamd" }

    public enum Failure: Error, Equatable {
        case connect(errno: Int32)
        case io(errno: Int32)
        case timeout
        case reply(String)
    }

    public init(socketPath: String, timeout: TimeInterval = 30) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    public func scan(_ bytes: [UInt8], name: String) throws -> [String] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(errno: errno) }
        defer { close(fd) }
        var deadline = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure.connect(errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure.connect(errno: errno) }

        try send(fd, Array("zINSTREAM\0".utf8))
        var offset = 0
        let chunk = 1 << 20
        while offset < bytes.count {
            let length = min(chunk, bytes.count - offset)
            try send(fd, ClamdClient.bigEndian(UInt32(length)) + bytes[offset..<offset + length])
            offset += length
        }
        try send(fd, [0, 0, 0, 0])
        let reply = try receive(fd)
        return try ClamdClient.parse(reply)
    }

    /// `stream: OK` → clean; `stream: A FOUND` → [A]; anything else is a failure (fail closed).
    static func parse(_ reply: String) throws -> [String] {
        let text = reply.trimmingCharacters(in: CharacterSet(charactersIn: "\0\n "))
        if text == "stream: OK" { return [] }
        if text.hasPrefix("stream: "), text.hasSuffix(" FOUND") {
            return [String(text.dropFirst("stream: ".count).dropLast(" FOUND".count))]
        }
        throw Failure.reply(String(text.prefix(200)))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    private func send<C: Collection>(_ fd: Int32, _ bytes: C) throws where C.Element == UInt8 {
        let array = Array(bytes)
        var done = 0
        while done < array.count {
            let n = array.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, array.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN || errno == EWOULDBLOCK ? Failure.timeout : Failure.io(errno: errno)
            }
            done += n
        }
    }

    /// Reads the NUL-terminated reply, at most 4 KiB.
    private func receive(_ fd: Int32) throws -> String {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while reply.count < 4096 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN || errno == EWOULDBLOCK ? Failure.timeout : Failure.io(errno: errno)
            }
            if n == 0 { break }
            reply += buffer[0..<n]
            if reply.contains(0) { break }
        }
        return String(decoding: reply.prefix { $0 != 0 }, as: UTF8.self)
    }
}
