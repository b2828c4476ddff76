import NIOCore
import XCTest
@testable import DICOMNetwork

/// The PDU codec against itself and against hostile bytes (PS3.8 §9.3).
final class PDUCodecTests: XCTestCase {
    private func roundTrip(_ pdu: PDU, file: StaticString = #filePath, line: UInt = #line) throws {
        var bytes = ByteBuffer()
        PDUCodec.encode(pdu, into: &bytes)
        XCTAssertEqual(bytes.getInteger(at: 0, as: UInt8.self), pdu.type, file: file, line: line)
        let length = Int(bytes.getInteger(at: 2, as: UInt32.self)!)
        XCTAssertEqual(length, bytes.readableBytes - 6, file: file, line: line)
        XCTAssertEqual(try PDUCodec.decode(type: pdu.type, body: bytes.getSlice(at: 6, length: length)!), pdu, file: file, line: line)
    }

    func testEveryPDURoundTrips() throws {
        let user = UserInformation(maxPDULength: 16384, implementationClassUID: "2.25.1", implementationVersionName: "KIOSK",
                                   asyncOperations: (1, 1), roles: [RoleSelection(sopClass: "1.2.840.10008.5.1.4.1.1.2", scu: true, scp: false)])
        try roundTrip(.associateRequest(AssociateRequest(calledAE: "PACS", callingAE: "KIOSK", contexts: [
            ProposedContext(id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"]),
            ProposedContext(id: 3, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]),
        ], user: user)))
        try roundTrip(.associateAccept(AssociateAccept(calledAE: "PACS", callingAE: "KIOSK", contexts: [
            AcceptedContext(id: 1, result: 0, transferSyntax: "1.2.840.10008.1.2"), AcceptedContext(id: 3, result: 4, transferSyntax: ""),
        ], user: user)))
        try roundTrip(.associateReject(AssociateReject(result: 1, source: 1, reason: 7)))
        try roundTrip(.data([PDV(contextID: 3, isCommand: true, isLast: true, data: ByteBuffer(bytes: [1, 2, 3])),
                             PDV(contextID: 3, isCommand: false, isLast: false, data: ByteBuffer(bytes: []))]))
        try roundTrip(.releaseRequest)
        try roundTrip(.releaseResponse)
        try roundTrip(.abort(source: 2, reason: 6))
        XCTAssertEqual(AssociateReject(result: 1, source: 1, reason: 7).description, "permanently rejected: called AE title not recognised")
    }

    func testHostileBytesAreTypedErrors() {
        // A PDV claiming more than its PDU holds, an item running past the PDU, unknown types.
        XCTAssertThrowsError(try PDUCodec.decode(type: 0x04, body: ByteBuffer(bytes: [0, 0, 0xFF, 0xFF, 1, 3, 9]))) {
            XCTAssertEqual($0 as? PDUError, .truncated("presentation data value"))
        }
        var header = ByteBuffer(bytes: [0, 1, 0, 0] + [UInt8](repeating: 0x20, count: 32) + [UInt8](repeating: 0, count: 32))
        header.writeBytes([0x10, 0, 0xFF, 0xF0, 0x31])
        XCTAssertThrowsError(try PDUCodec.decode(type: 0x02, body: header)) { XCTAssertEqual($0 as? PDUError, .truncated("item 0x10")) }
        XCTAssertThrowsError(try PDUCodec.decode(type: 0x09, body: ByteBuffer())) { XCTAssertEqual($0 as? PDUError, .unknownType(9)) }
    }

    func testStateMachineRefusesWhatPS38DoesNotAllow() throws {
        var machine = UpperLayerStateMachine()
        XCTAssertThrowsError(try machine.handle(.dataSent), "no data before an association")
        machine = UpperLayerStateMachine()
        for event: UpperLayerStateMachine.Event in [.associateRequested, .transportConnected, .associateAccepted, .dataSent, .dataReceived,
                                                    .releaseRequested, .releaseResponseReceived, .transportClosed] {
            try machine.handle(event)
        }
        XCTAssertEqual(machine.state, .idle)
        machine = UpperLayerStateMachine()
        try machine.handle(.associateRequested); try machine.handle(.transportConnected)
        XCTAssertThrowsError(try machine.handle(.dataReceived), "P-DATA before A-ASSOCIATE-AC is a protocol error")
    }

    func testStatusClasses() {
        XCTAssertEqual(DIMSEStatus(code: 0x0000).kind, .success)
        XCTAssertEqual(DIMSEStatus(code: 0xB000).kind, .warning)
        XCTAssertEqual(DIMSEStatus(code: 0xB007).kind, .warning)
        XCTAssertEqual(DIMSEStatus(code: 0x0111).kind, .duplicate)
        XCTAssertEqual(DIMSEStatus(code: 0xA702).kind, .transientFailure)
        XCTAssertEqual(DIMSEStatus(code: 0xA900).kind, .permanentFailure)
        XCTAssertEqual(DIMSEStatus(code: 0xC000).kind, .permanentFailure)
        XCTAssertEqual(DIMSEStatus(code: 0x0122).description, "0x0122 SOP class not supported")
    }
}
