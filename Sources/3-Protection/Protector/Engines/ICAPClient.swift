import Foundation

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

    public init(host: String, port: UInt16, service: String, timeout: TimeInterval = 30) {
        self.host = host; self.port = port; self.service = service; self.timeout = timeout
    }

    public func scan(_ content: ScanContent) throws -> [String] {
        let name = content.label
        let connection = try EngineSocket.tcp(host: host, port: port, timeout: timeout)
        let httpRequest = "GET /\(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "part") HTTP/1.1\r\nHost: kiosk-agent\r\n\r\n"
        let httpResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(content.count)\r\n\r\n"
        let request = "RESPMOD icap://\(host):\(port)/\(service) ICAP/1.0\r\n"
            + "Host: \(host)\r\nAllow: 204\r\nConnection: close\r\n"
            + "Encapsulated: req-hdr=0, res-hdr=\(httpRequest.utf8.count), res-body=\(httpRequest.utf8.count + httpResponse.utf8.count)\r\n\r\n"
            + httpRequest + httpResponse
        try connection.send(Array(request.utf8))
        // Chunked body (RFC 3507 §4.4.1): hex size, CRLF, data, CRLF … then 0 CRLF CRLF.
        try content.forEachChunk(1 << 20) { piece in
            guard !piece.isEmpty else { return }
            try connection.send(Array((String(piece.count, radix: 16) + "\r\n").utf8) + piece + [0x0D, 0x0A])
        }
        try connection.send(Array("0\r\n\r\n".utf8))
        // The ICAP headers end at the first empty line; the rest (a block page) is not needed.
        let end: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        let head = try connection.receive(limit: 65_536) { reply in
            reply.indices.dropLast(3).first { Array(reply[$0..<$0 + 4]) == end }
        }
        return try ICAPClient.verdict(String(decoding: head, as: UTF8.self))
    }

    /// Reads the ICAP status line and headers.
    static func verdict(_ head: String) throws -> [String] {
        let lines = head.components(separatedBy: "\r\n")
        let status = lines.first ?? ""
        let parts = status.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("ICAP/1.") else { throw EngineFailure.reply(String(status.prefix(120))) }
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
            throw EngineFailure.reply(String(status.prefix(120)))
        }
    }
}
