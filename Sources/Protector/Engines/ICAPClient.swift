import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An ICAP (RFC 3507) anti-malware gateway: each part is sent as the body of an HTTP response in
/// a RESPMOD request. `204 No Content` means unmodified (clean); a `200` with a modified response
/// means the gateway blocked it (the threat name comes from `X-Infection-Found` or
/// `X-Violations-Found` when present); anything else is a failure and the file is rejected.
public struct ICAPClient: MalwareEngine {
    public let host: String
    public let port: UInt16
    public let service: String
    public let timeout: TimeInterval
    public var name: String { "icap" }

    public enum Failure: Error, Equatable {
        case connect(errno: Int32)
        case io(errno: Int32)
        case timeout
        case reply(String)
    }

    public init(host: String, port: UInt16, service: String, timeout: TimeInterval = 30) {
        self.host = host; self.port = port; self.service = service; self.timeout = timeout
    }

    public func scan(_ bytes: [UInt8], name: String) throws -> [String] {
        let fd = try connectTCP()
        defer { close(fd) }
        let httpRequest = "GET /\(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "part") HTTP/1.1\r\nHost: kiosk-agent\r\n\r\n"
        let httpResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(bytes.count)\r\n\r\n"
        let request = "RESPMOD icap://\(host):\(port)/\(service) ICAP/1.0\r\n"
            + "Host: \(host)\r\nAllow: 204\r\nConnection: close\r\n"
            + "Encapsulated: req-hdr=0, res-hdr=\(httpRequest.utf8.count), res-body=\(httpRequest.utf8.count + httpResponse.utf8.count)\r\n\r\n"
            + httpRequest + httpResponse
        try send(fd, Array(request.utf8))
        // Chunked body (RFC 3507 §4.4.1): hex size, CRLF, data, CRLF … then 0 CRLF CRLF.
        var offset = 0
        while offset < bytes.count {
            let length = min(1 << 20, bytes.count - offset)
            try send(fd, Array((String(length, radix: 16) + "\r\n").utf8) + bytes[offset..<offset + length] + [0x0D, 0x0A])
            offset += length
        }
        try send(fd, Array("0\r\n\r\n".utf8))
        return try ICAPClient.verdict(try receiveHeaders(fd))
    }

    /// Reads the ICAP status line and headers.
    static func verdict(_ head: String) throws -> [String] {
        let lines = head.components(separatedBy: "\r\n")
        let status = lines.first ?? ""
        let parts = status.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("ICAP/1.") else { throw Failure.reply(String(status.prefix(120))) }
        switch parts[1] {
        case "204": return []
        case "200":
            for line in lines.dropFirst() {
                let lower = line.lowercased()
                guard lower.hasPrefix("x-infection-found:") || lower.hasPrefix("x-violations-found:") else { continue }
                if let range = line.range(of: "Threat=") {
                    let threat = line[range.upperBound...].prefix { $0 != ";" }
                    return [String(threat).trimmingCharacters(in: .whitespaces)]
                }
                return [String(line.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces)]
            }
            return ["blocked by the ICAP gateway"]
        default:
            throw Failure.reply(String(status.prefix(120)))
        }
    }

    private func connectTCP() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else { throw Failure.connect(errno: EHOSTUNREACH) }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure.connect(errno: errno) }
        var deadline = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            close(fd)
            throw Failure.connect(errno: code)
        }
        return fd
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN || errno == EWOULDBLOCK ? Failure.timeout : Failure.io(errno: errno)
            }
            done += n
        }
    }

    /// Reads up to the blank line that ends the ICAP headers (at most 64 KiB).
    private func receiveHeaders(_ fd: Int32) throws -> String {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        while reply.count < 65_536 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN || errno == EWOULDBLOCK ? Failure.timeout : Failure.io(errno: errno)
            }
            if n == 0 { break }
            reply += buffer[0..<n]
            if let index = reply.indices.dropLast(3).first(where: { Array(reply[$0..<$0 + 4]) == end }) {
                return String(decoding: reply[0..<index], as: UTF8.self)
            }
        }
        if reply.isEmpty { throw Failure.reply("connection closed without a reply") }
        return String(decoding: reply, as: UTF8.self)
    }
}
