import DICOMCore
import NIOCore

/// DIMSE command sets (PS3.7 §9.3, §E): group 0000, always implicit VR little endian.
public enum DIMSE {
    public static let verificationSOPClass = "1.2.840.10008.1.1"

    enum Field: UInt16 {
        case cStoreRequest = 0x0001, cStoreResponse = 0x8001, cEchoRequest = 0x0030, cEchoResponse = 0x8030
    }

    /// C-ECHO-RQ.
    public static func echoRequest(messageID: UInt16) -> ByteBuffer {
        command([(Tag.affectedSOPClassUID, uid(verificationSOPClass)), (Tag.commandField, us(Field.cEchoRequest.rawValue)),
                 (Tag.messageID, us(messageID)), (Tag.commandDataSetType, us(0x0101))])
    }

    /// C-STORE-RQ (priority medium); a data set follows.
    public static func storeRequest(messageID: UInt16, sopClass: String, sopInstance: String) -> ByteBuffer {
        command([(Tag.affectedSOPClassUID, uid(sopClass)), (Tag.commandField, us(Field.cStoreRequest.rawValue)),
                 (Tag.messageID, us(messageID)), (Tag.priority, us(0)), (Tag.commandDataSetType, us(0x0000)),
                 (Tag.affectedSOPInstanceUID, uid(sopInstance))])
    }

    /// A response's fields that matter to an SCU.
    public struct Response: Equatable, Sendable {
        public let commandField: UInt16
        public let messageIDBeingRespondedTo: UInt16
        public let status: DIMSEStatus
        public let errorComment: String?
    }

    public enum ParseError: Error, Equatable { case malformed(String) }

    /// Reads a command set; every element length is checked against what remains.
    public static func parse(_ bytes: ByteBuffer) throws(ParseError) -> Response {
        var buffer = bytes
        var values: [Tag: ByteBuffer] = [:]
        while buffer.readableBytes > 0 {
            guard let group = buffer.readInteger(endianness: .little, as: UInt16.self),
                  let element = buffer.readInteger(endianness: .little, as: UInt16.self),
                  let length = buffer.readInteger(endianness: .little, as: UInt32.self),
                  let value = buffer.readSlice(length: Int(length)) else { throw .malformed("element runs past the command set") }
            guard group == 0x0000 else { throw .malformed("element outside group 0000") }
            values[Tag(group, element)] = value
        }
        func u16(_ tag: Tag) -> UInt16? { values[tag]?.getInteger(at: values[tag]!.readerIndex, endianness: .little, as: UInt16.self) }
        guard let field = u16(Tag.commandField), let status = u16(Tag.status) else { throw .malformed("no Command Field or Status") }
        return Response(commandField: field, messageIDBeingRespondedTo: u16(Tag.messageIDBeingRespondedTo) ?? 0,
                        status: DIMSEStatus(code: status), errorComment: values[Tag.errorComment]?.string)
    }

    private static func uid(_ value: String) -> [UInt8] {
        var bytes = Array(value.utf8)
        if bytes.count & 1 == 1 { bytes.append(0) }
        return bytes
    }

    private static func us(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

    private static func command(_ elements: [(Tag, [UInt8])]) -> ByteBuffer {
        var body = ByteBuffer()
        for (tag, value) in elements {
            body.writeInteger(tag.group, endianness: .little)
            body.writeInteger(tag.element, endianness: .little)
            body.writeInteger(UInt32(value.count), endianness: .little)
            body.writeBytes(value)
        }
        var out = ByteBuffer()
        out.writeInteger(Tag.commandGroupLength.group, endianness: .little)
        out.writeInteger(Tag.commandGroupLength.element, endianness: .little)
        out.writeInteger(UInt32(4), endianness: .little); out.writeInteger(UInt32(body.readableBytes), endianness: .little)
        out.writeBuffer(&body)
        return out
    }
}

/// A DIMSE status (PS3.7 Annex C): its class decides what the spool does next.
public struct DIMSEStatus: Equatable, Sendable, CustomStringConvertible {
    public let code: UInt16

    public init(code: UInt16) { self.code = code }

    public enum Kind: Equatable, Sendable {
        case success
        /// Stored, with a remark (0xB000 coercion, 0xB006 elements discarded, 0xB007 data set does not match SOP class).
        case warning
        /// The SCP already holds this SOP Instance (0x0111): stored, as far as the sender is concerned.
        case duplicate
        /// Worth retrying later (0xA7xx out of resources, 0x0213 resource limitation, 0xFE00 cancel).
        case transientFailure
        /// Retrying will not help (0xA9xx, 0xCxxx, 0x0122 SOP class not supported, 0x0124 not authorised, …).
        case permanentFailure
        case pending
    }

    public var kind: Kind {
        switch code {
        case 0x0000: .success
        case 0x0001, 0x0107, 0x0116, 0xB000...0xBFFF: .warning
        case 0x0111: .duplicate
        case 0xFF00, 0xFF01: .pending
        case 0xA700...0xA7FF, 0x0213, 0xFE00: .transientFailure
        default: .permanentFailure
        }
    }

    /// Stored (success, warning, or already there).
    public var isStored: Bool { [.success, .warning, .duplicate].contains(kind) }

    public var description: String {
        let hex = "0x" + String(code, radix: 16, uppercase: true).leftPadded(4)
        let meaning: String = switch code {
        case 0x0000: "success"
        case 0xB000: "warning: coercion of data elements"
        case 0xB006: "warning: elements discarded"
        case 0xB007: "warning: data set does not match SOP class"
        case 0x0111: "duplicate SOP instance"
        case 0x0122: "SOP class not supported"
        case 0x0124: "refused: not authorised"
        case 0x0211: "unrecognised operation"
        case 0xA700...0xA7FF: "refused: out of resources"
        case 0xA900...0xA9FF: "error: data set does not match SOP class"
        case 0xC000...0xCFFF: "error: cannot understand"
        default: "failure"
        }
        return "\(hex) \(meaning)"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
