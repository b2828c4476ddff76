import NIOCore

/// Why bytes from a peer are not a PDU. Each is an A-ABORT (reason 2, unrecognised PDU, or 6,
/// invalid parameter) on the wire and a clear error for the report.
public enum PDUError: Error, Equatable, CustomStringConvertible {
    case unknownType(UInt8)
    case tooLong(type: UInt8, length: UInt32, limit: UInt32)
    case truncated(String)
    case invalidItem(String)

    public var description: String {
        switch self {
        case let .unknownType(type): "unknown PDU type 0x\(String(type, radix: 16))"
        case let .tooLong(type, length, limit): "PDU type \(type) of \(length) bytes is over the limit of \(limit)"
        case let .truncated(what): "\(what) runs past the end of its PDU"
        case let .invalidItem(what): "invalid \(what)"
        }
    }
}

/// Encodes and decodes PDUs (PS3.8 §9.3). Lengths are big endian; AE titles are 16 bytes padded
/// with spaces; UIDs in items are not padded.
public enum PDUCodec {
    public static func encode(_ pdu: PDU, into out: inout ByteBuffer) {
        out.writeInteger(pdu.type)
        out.writeInteger(UInt8(0))
        let lengthIndex = out.writerIndex
        out.writeInteger(UInt32(0))
        let start = out.writerIndex
        switch pdu {
        case let .associateRequest(rq):
            header(rq.calledAE, rq.callingAE, into: &out)
            item(0x10, into: &out) { $0.writeString(rq.applicationContext) }
            for context in rq.contexts {
                item(0x20, into: &out) { body in
                    body.writeInteger(context.id)
                    body.writeInteger(UInt8(0)); body.writeInteger(UInt8(0)); body.writeInteger(UInt8(0))
                    item(0x30, into: &body) { $0.writeString(context.abstractSyntax) }
                    for syntax in context.transferSyntaxes { item(0x40, into: &body) { $0.writeString(syntax) } }
                }
            }
            user(rq.user, into: &out)
        case let .associateAccept(ac):
            header(ac.calledAE, ac.callingAE, into: &out)
            item(0x10, into: &out) { $0.writeString(ac.applicationContext) }
            for context in ac.contexts {
                item(0x21, into: &out) { body in
                    body.writeInteger(context.id)
                    body.writeInteger(UInt8(0)); body.writeInteger(context.result); body.writeInteger(UInt8(0))
                    item(0x40, into: &body) { $0.writeString(context.transferSyntax) }
                }
            }
            user(ac.user, into: &out)
        case let .associateReject(rj):
            out.writeInteger(UInt8(0)); out.writeInteger(rj.result); out.writeInteger(rj.source); out.writeInteger(rj.reason)
        case let .data(pdvs):
            for pdv in pdvs {
                out.writeInteger(UInt32(pdv.data.readableBytes + 2))
                out.writeInteger(pdv.contextID)
                out.writeInteger(UInt8((pdv.isCommand ? 1 : 0) | (pdv.isLast ? 2 : 0)))
                var data = pdv.data
                out.writeBuffer(&data)
            }
        case .releaseRequest, .releaseResponse:
            out.writeInteger(UInt32(0))
        case let .abort(source, reason):
            out.writeInteger(UInt8(0)); out.writeInteger(UInt8(0)); out.writeInteger(source); out.writeInteger(reason)
        }
        out.setInteger(UInt32(out.writerIndex - start), at: lengthIndex)
    }

    private static func header(_ called: String, _ calling: String, into out: inout ByteBuffer) {
        out.writeInteger(UInt16(1))     // protocol version
        out.writeInteger(UInt16(0))
        out.writeString(aeTitle(called)); out.writeString(aeTitle(calling))
        out.writeRepeatingByte(0, count: 32)
    }

    static func aeTitle(_ title: String) -> String {
        let clipped = String(title.prefix(16))
        return clipped + String(repeating: " ", count: 16 - clipped.utf8.count)
    }

    private static func item(_ type: UInt8, into out: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        out.writeInteger(type)
        out.writeInteger(UInt8(0))
        let lengthIndex = out.writerIndex
        out.writeInteger(UInt16(0))
        let start = out.writerIndex
        body(&out)
        out.setInteger(UInt16(out.writerIndex - start), at: lengthIndex)
    }

    private static func user(_ info: UserInformation, into out: inout ByteBuffer) {
        item(0x50, into: &out) { body in
            item(0x51, into: &body) { $0.writeInteger(info.maxPDULength) }
            item(0x52, into: &body) { $0.writeString(info.implementationClassUID) }
            if let window = info.asyncOperations {
                item(0x53, into: &body) { $0.writeInteger(window.invoked); $0.writeInteger(window.performed) }
            }
            for role in info.roles {
                item(0x54, into: &body) {
                    $0.writeInteger(UInt16(role.sopClass.utf8.count)); $0.writeString(role.sopClass)
                    $0.writeInteger(UInt8(role.scu ? 1 : 0)); $0.writeInteger(UInt8(role.scp ? 1 : 0))
                }
            }
            if let name = info.implementationVersionName { item(0x55, into: &body) { $0.writeString(String(name.prefix(16))) } }
        }
    }

    // MARK: decoding

    /// Decodes the body of one PDU of `type` (the 6-byte header already read and its length checked).
    public static func decode(type: UInt8, body: ByteBuffer) throws(PDUError) -> PDU {
        var body = body
        switch type {
        case 0x01, 0x02:
            guard body.readableBytes >= 68 else { throw .truncated("A-ASSOCIATE header") }
            body.moveReaderIndex(forwardBy: 4)
            let called = body.readString(length: 16)!.trimmingSpaces, calling = body.readString(length: 16)!.trimmingSpaces
            body.moveReaderIndex(forwardBy: 32)
            var application = ""
            var proposed: [ProposedContext] = []
            var accepted: [AcceptedContext] = []
            var user: UserInformation?
            while body.readableBytes > 0 {
                let (itemType, content) = try readItem(&body)
                switch itemType {
                case 0x10: application = content.string
                case 0x20: proposed.append(try proposedContext(content))
                case 0x21: accepted.append(try acceptedContext(content))
                case 0x50: user = try userInformation(content)
                default: continue   // unknown items are skipped (PS3.8 §9.3.2)
                }
            }
            guard let user else { throw .invalidItem("A-ASSOCIATE without User Information") }
            return type == 0x01
                ? .associateRequest(AssociateRequest(calledAE: called, callingAE: calling, contexts: proposed, user: user, applicationContext: application))
                : .associateAccept(AssociateAccept(calledAE: called, callingAE: calling, contexts: accepted, user: user, applicationContext: application))
        case 0x03:
            guard body.readableBytes >= 4, let bytes = body.readBytes(length: 4) else { throw .truncated("A-ASSOCIATE-RJ") }
            return .associateReject(AssociateReject(result: bytes[1], source: bytes[2], reason: bytes[3]))
        case 0x04:
            var pdvs: [PDV] = []
            while body.readableBytes > 0 {
                guard let length = body.readInteger(as: UInt32.self), length >= 2, Int(length) <= body.readableBytes,
                      let context = body.readInteger(as: UInt8.self), let control = body.readInteger(as: UInt8.self),
                      let data = body.readSlice(length: Int(length) - 2) else { throw .truncated("presentation data value") }
                pdvs.append(PDV(contextID: context, isCommand: control & 1 == 1, isLast: control & 2 == 2, data: data))
            }
            return .data(pdvs)
        case 0x05: return .releaseRequest
        case 0x06: return .releaseResponse
        case 0x07:
            guard let bytes = body.readBytes(length: 4) else { throw .truncated("A-ABORT") }
            return .abort(source: bytes[2], reason: bytes[3])
        default:
            throw .unknownType(type)
        }
    }

    private static func readItem(_ body: inout ByteBuffer) throws(PDUError) -> (UInt8, ByteBuffer) {
        guard let type = body.readInteger(as: UInt8.self), body.readInteger(as: UInt8.self) != nil,
              let length = body.readInteger(as: UInt16.self) else { throw .truncated("item header") }
        guard let content = body.readSlice(length: Int(length)) else { throw .truncated("item 0x\(String(type, radix: 16))") }
        return (type, content)
    }

    private static func proposedContext(_ content: ByteBuffer) throws(PDUError) -> ProposedContext {
        var content = content
        guard let id = content.readInteger(as: UInt8.self), content.readBytes(length: 3) != nil else { throw .truncated("presentation context") }
        var abstract = ""
        var syntaxes: [String] = []
        while content.readableBytes > 0 {
            let (type, sub) = try readItem(&content)
            if type == 0x30 { abstract = sub.string } else if type == 0x40 { syntaxes.append(sub.string) }
        }
        guard id & 1 == 1, !abstract.isEmpty else { throw .invalidItem("presentation context \(id)") }
        return ProposedContext(id: id, abstractSyntax: abstract, transferSyntaxes: syntaxes)
    }

    private static func acceptedContext(_ content: ByteBuffer) throws(PDUError) -> AcceptedContext {
        var content = content
        guard let id = content.readInteger(as: UInt8.self), let rest = content.readBytes(length: 3) else { throw .truncated("presentation context") }
        var syntax = ""
        while content.readableBytes > 0 {
            let (type, sub) = try readItem(&content)
            if type == 0x40 { syntax = sub.string }
        }
        return AcceptedContext(id: id, result: rest[1], transferSyntax: syntax)
    }

    private static func userInformation(_ content: ByteBuffer) throws(PDUError) -> UserInformation {
        var content = content
        var info = UserInformation(maxPDULength: 0, implementationClassUID: "")
        while content.readableBytes > 0 {
            var (type, sub) = try readItem(&content)
            switch type {
            case 0x51: info.maxPDULength = sub.readInteger(as: UInt32.self) ?? 0
            case 0x52: info.implementationClassUID = sub.string
            case 0x53:
                if let invoked = sub.readInteger(as: UInt16.self), let performed = sub.readInteger(as: UInt16.self) {
                    info.asyncOperations = (invoked, performed)
                }
            case 0x54:
                guard let length = sub.readInteger(as: UInt16.self), let uid = sub.readString(length: Int(length)),
                      let scu = sub.readInteger(as: UInt8.self), let scp = sub.readInteger(as: UInt8.self) else {
                    throw .truncated("role selection")
                }
                info.roles.append(RoleSelection(sopClass: uid, scu: scu == 1, scp: scp == 1))
            case 0x55: info.implementationVersionName = sub.string
            default: continue
            }
        }
        return info
    }
}

extension ByteBuffer {
    /// The readable bytes as text, without trailing NUL or space padding.
    var string: String {
        String(decoding: readableBytesView, as: UTF8.self).trimmingSpaces
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self).unicodeScalars
        while let last = scalars.last, last == " " || last == "\u{0}" { scalars.removeLast() }
        while let first = scalars.first, first == " " { scalars.removeFirst() }
        return String(scalars)
    }
}

/// Frames PDUs from the byte stream: a 6-byte header, then as many bytes as it says — never more
/// than `maxLength`, so a peer cannot make us buffer what it merely claims.
public struct PDUFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = PDU
    let maxLength: UInt32

    public init(maxLength: UInt32) { self.maxLength = maxLength }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= 6, let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else { return .needMoreData }
        guard (0x01...0x07).contains(type) else { throw PDUError.unknownType(type) }
        guard length <= maxLength else { throw PDUError.tooLong(type: type, length: length, limit: maxLength) }
        guard buffer.readableBytes >= 6 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 6)
        let body = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(try PDUCodec.decode(type: type, body: body)))
        return .continue
    }
}

public struct PDUEncoder: MessageToByteEncoder {
    public typealias OutboundIn = PDU
    public init() {}
    public func encode(data: PDU, out: inout ByteBuffer) throws { PDUCodec.encode(data, into: &out) }
}
