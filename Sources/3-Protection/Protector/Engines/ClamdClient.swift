import DICOMCore
import Foundation

/// clamd over its unix socket with the INSTREAM command: `zINSTREAM\0`, then chunks of a
/// 4-byte big-endian length and the data, ended by a zero-length chunk; the reply is
/// `stream: OK`, `stream: NAME FOUND`, or `… ERROR` (e.g. over clamd's StreamMaxLength).
public struct ClamdClient: MalwareEngine {
    public let socketPath: String
    /// Per-scan deadline for connect, send and reply.
    public let timeout: TimeInterval
    public var name: String { "clamd" }

    public init(socketPath: String, timeout: TimeInterval = 30) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    public func scan(_ content: ScanContent) throws -> [String] {
        let connection = try EngineSocket.unix(path: socketPath, timeout: timeout)
        try connection.send(Array("zINSTREAM\0".utf8))
        try content.forEachChunk(1 << 20) { piece in
            guard !piece.isEmpty else { return }
            try connection.send(ClamdClient.bigEndian(UInt32(piece.count)) + piece)
        }
        try connection.send([0, 0, 0, 0])
        // The reply ends with a NUL (z-prefixed command).
        let reply = try connection.receive(limit: 4096) { $0.firstIndex(of: 0) }
        return try ClamdClient.parse(String(decoding: reply, as: UTF8.self))
    }

    /// `stream: OK` → clean; `stream: A FOUND` → [A]; anything else is a failure (fail closed).
    static func parse(_ reply: String) throws -> [String] {
        let text = reply.trimmingCharacters(in: CharacterSet(charactersIn: "\0\n "))
        if text == "stream: OK" { return [] }
        if text.hasPrefix("stream: "), text.hasSuffix(" FOUND") {
            return [String(text.dropFirst("stream: ".count).dropLast(" FOUND".count))]
        }
        throw EngineFailure.reply(String(text.prefix(200)))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
