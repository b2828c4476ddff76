import Foundation
import HelperProtocol
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// The agent ↔ scanner protocol, on a SOCK_SEQPACKET socket pair: one message per packet, one
/// byte of kind then the compact encoding (`CompactReader`), a descriptor alongside where the
/// message hands one over (SCM_RIGHTS). Bytes to scan never travel in a message: a part is in one
/// of the shared buffers handed over once when the scanner starts (a larger part, a sealed memfd
/// handed over with its request), a range of the medium an offset into the medium's descriptor,
/// handed over once per medium. The agent treats every answer as untrusted: the scanner runs
/// libclamav on hostile content.
public enum ScannerMessage: UInt8, Sendable {
    // agent → scanner
    case job = 1, medium = 2, forget = 3, scan = 4, buffer = 5
    // scanner → agent
    case ready = 10, failed = 11, result = 12
}

/// What the scanner is asked to look at.
public enum ScannerBody: Sendable, Equatable {
    /// The first `count` bytes of the shared buffer `slot`.
    case shared(slot: Int, count: Int64)
    /// The descriptor that comes with the request (a sealed memfd, or a spill file), `count` bytes from its start.
    case attached(count: Int64)
    /// `count` bytes at `offset` of the medium handed over as `token`.
    case medium(token: Int, offset: Int64, count: Int64)
}

public struct ScannerRequest: Sendable, Equatable {
    public var id: Int
    public var engines: [Int]
    public var label: String
    public var body: ScannerBody

    public init(id: Int, engines: [Int], label: String, body: ScannerBody) {
        self.id = id
        self.engines = engines
        self.label = label
        self.body = body
    }

    public init(reading reader: inout CompactReader) throws {
        id = try reader.int()
        let count = try reader.int()
        guard (1...HelperScan.maxEngines).contains(count) else { throw ScannerProtocolError("\(count) engines") }
        engines = try (0..<count).map { _ in try reader.int() }
        label = try reader.string()
        switch try reader.int() {
        case 0: body = .attached(count: try reader.integer())
        case 1: body = .medium(token: try reader.int(), offset: try reader.integer(), count: try reader.integer())
        case 2: body = .shared(slot: try reader.int(), count: try reader.integer())
        case let other: throw ScannerProtocolError("a body of kind \(other)")
        }
    }

    public func write(to bytes: inout [UInt8]) {
        bytes.appendCompact(Int64(id))
        bytes.appendCompact(Int64(engines.count))
        for engine in engines { bytes.appendCompact(Int64(engine)) }
        bytes.appendCompact(label)
        switch body {
        case let .attached(count):
            bytes.appendCompact(0)
            bytes.appendCompact(count)
        case let .medium(token, offset, count):
            bytes.appendCompact(1)
            bytes.appendCompact(Int64(token))
            bytes.appendCompact(offset)
            bytes.appendCompact(count)
        case let .shared(slot, count):
            bytes.appendCompact(2)
            bytes.appendCompact(Int64(slot))
            bytes.appendCompact(count)
        }
    }
}

public struct ScannerResult: Sendable, Equatable {
    public var id: Int
    public var outcomes: [EngineOutcome]

    public init(id: Int, outcomes: [EngineOutcome]) {
        self.id = id
        self.outcomes = outcomes
    }

    public init(reading reader: inout CompactReader) throws {
        id = try reader.int()
        let count = try reader.int()
        guard (0...HelperScan.maxEngines).contains(count) else { throw ScannerProtocolError("\(count) outcomes") }
        outcomes = try (0..<count).map { _ in try EngineOutcome(reading: &reader) }
    }

    public func write(to bytes: inout [UInt8]) {
        bytes.appendCompact(Int64(id))
        bytes.appendCompact(Int64(outcomes.count))
        for outcome in outcomes { outcome.write(to: &bytes) }
    }
}

public struct ScannerProtocolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One packet: its kind, payload and the descriptor that came with it (owned by the receiver).
public struct Packet {
    public let kind: ScannerMessage
    public let payload: [UInt8]
    public let descriptor: Int32?

    public func reader() -> CompactReader { CompactReader(payload) }
}

/// sendmsg(2)/recvmsg(2) with at most one descriptor. The CMSG_* macros cannot be called from
/// Swift; the control message is laid out by hand as they would (Linux, LP64): a 16-byte
/// `cmsghdr` (length, level, type) then the descriptor, padded to 8 bytes.
public enum SeqPacket {
    /// The largest packet either side sends (a request, an answer with its names, the job).
    public static let maxBytes = 128 << 10
    static let header = 16  // sizeof(struct cmsghdr) on LP64
    static let space = header + 8
    static let scmRights: Int32 = 1  // SCM_RIGHTS

    public static func send(_ socket: Int32, _ kind: ScannerMessage, _ payload: [UInt8], passing descriptor: Int32? = nil) throws {
        var bytes = [kind.rawValue] + payload
        guard bytes.count <= maxBytes else { throw ScannerProtocolError("a \(bytes.count)-byte message") }
        var control = [UInt64](repeating: 0, count: space / 8)
        let sent = bytes.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { raw in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    if let descriptor {
                        raw.storeBytes(of: header + 4, toByteOffset: 0, as: Int.self)
                        raw.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
                        raw.storeBytes(of: scmRights, toByteOffset: 12, as: Int32.self)
                        raw.storeBytes(of: descriptor, toByteOffset: header, as: Int32.self)
                        message.msg_control = raw.baseAddress
                        message.msg_controllen = space
                    }
                    return retryingOnInterrupt { sendmsg(socket, &message, Int32(MSG_NOSIGNAL)) }
                }
            }
        }
        guard sent == bytes.count else { throw HelperProtocolError.io("sending to the scanner", sent < 0 ? errno : EMSGSIZE) }
    }

    /// The next packet; nil when the peer closed. A packet cut short, or with more than one
    /// descriptor, is a protocol error (any descriptor that came is closed).
    public static func receive(_ socket: Int32) throws -> Packet? {
        var buffer = SeqPacket.buffer()
        return try receive(socket, into: &buffer)
    }

    /// A buffer for `receive(_:into:)`, kept by a thread that receives many packets. Filled by
    /// recvmsg(2), never zeroed first.
    public static func buffer() -> [UInt8] { [UInt8](unsafeUninitializedCapacity: maxBytes) { _, count in count = maxBytes } }

    public static func receive(_ socket: Int32, into buffer: inout [UInt8]) throws -> Packet? {
        guard buffer.count >= maxBytes else { throw ScannerProtocolError("a receive buffer of \(buffer.count) bytes") }
        var control = [UInt64](repeating: 0, count: 8)
        var flags: Int32 = 0
        var controlLength = 0
        let received = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { raw in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = raw.baseAddress
                    message.msg_controllen = raw.count
                    // MSG_CMSG_CLOEXEC: a descriptor received never leaks into a spawned process.
                    let n = retryingOnInterrupt { recvmsg(socket, &message, 0x4000_0000) }
                    flags = message.msg_flags
                    controlLength = message.msg_controllen
                    return n
                }
            }
        }
        guard received >= 0 else { throw HelperProtocolError.io("receiving from the scanner", errno) }
        // Descriptors that came, whatever else is wrong with the packet: closed unless returned.
        var descriptors: [Int32] = []
        control.withUnsafeBytes { raw in
            var offset = 0
            while offset + header <= controlLength {
                let length = raw.load(fromByteOffset: offset, as: Int.self)
                let level = raw.load(fromByteOffset: offset + 8, as: Int32.self)
                let type = raw.load(fromByteOffset: offset + 12, as: Int32.self)
                guard length >= header, offset + length <= controlLength else { break }
                if level == SOL_SOCKET && type == scmRights {
                    var at = offset + header
                    while at + 4 <= offset + length {
                        descriptors.append(raw.load(fromByteOffset: at, as: Int32.self))
                        at += 4
                    }
                }
                offset += (length + 7) & ~7
            }
        }
        func refuse(_ why: String) -> ScannerProtocolError {
            descriptors.forEach { close($0) }
            return ScannerProtocolError(why)
        }
        if received == 0 && descriptors.isEmpty { return nil }
        guard flags & Int32(MSG_TRUNC) == 0, flags & Int32(MSG_CTRUNC) == 0 else { throw refuse("a message cut short") }
        guard descriptors.count <= 1 else { throw refuse("\(descriptors.count) descriptors in one message") }
        guard received >= 1, let kind = ScannerMessage(rawValue: buffer[0]) else { throw refuse("an unknown message") }
        return Packet(kind: kind, payload: Array(buffer[1..<received]), descriptor: descriptors.first)
    }
}
