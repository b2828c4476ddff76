import DICOMCore
import Foundation
import NIOCore
import TestSupport
import XCTest
@testable import DICOMNetwork

/// Associations with a real DCMTK storescp on loopback.
final class AssociationTests: XCTestCase {
    private func configuration(_ peer: StoreSCPPeer, calledAE: String? = nil) -> AssociationConfiguration {
        AssociationConfiguration(host: "127.0.0.1", port: peer.port, calledAE: calledAE ?? peer.aeTitle, callingAE: "KIOSK",
                                 implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST")
    }

    func testEchoAndStoreAgainstStorescp() async throws {
        let peer = try StoreSCPPeer()
        let config = configuration(peer)
        let status = try await Association.open(config, contexts: [ProposedContext(id: 1, abstractSyntax: DIMSE.verificationSOPClass,
                                                                                  transferSyntaxes: ["1.2.840.10008.1.2"])]) { try await $0.echo() }
        XCTAssertEqual(status.kind, .success)

        let bytes = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        let file = try DICOMReader.read(InMemoryByteSource(bytes))
        let sopClass = try XCTUnwrap(file.dataSet.string(Tag.sopClassUID)), sop = try XCTUnwrap(file.dataSet.string(Tag.sopInstanceUID))
        let start = try XCTUnwrap(file.dataSet.elements.first?.offset)
        var small = config
        small.sendPDULength = 4096   // many PDVs per data set
        let response = try await Association.open(small, contexts: [ProposedContext(id: 1, abstractSyntax: sopClass,
                                                                                   transferSyntaxes: [file.transferSyntax.uid])]) { association in
            let context = try XCTUnwrap(association.context(for: sopClass, transferSyntax: file.transferSyntax.uid))
            return try await association.store(sopClass: sopClass, sopInstance: sop, context: context, source: InMemoryByteSource(bytes),
                                               offset: start, length: Int64(bytes.count) - start)
        }
        XCTAssertEqual(response.status.kind, .success)
        let received = try XCTUnwrap(peer.received.first)
        let stored = try DICOMReader.read(InMemoryByteSource([UInt8](try Data(contentsOf: received))))
        XCTAssertTrue(stored.dataSet[Tag.pixelData]?.inlineBytes == file.dataSet[Tag.pixelData]?.inlineBytes, "pixel data arrives bit-identical")
        XCTAssertEqual(stored.dataSet.string(Tag.sopInstanceUID), sop)
    }

    func testRejectionAndRefusalAreTypedErrors() async throws {
        let peer = try StoreSCPPeer()
        do {
            _ = try await Association.open(configuration(peer), contexts: [ProposedContext(id: 1, abstractSyntax: "1.2.3.4.5.6",
                                                                                          transferSyntaxes: ["1.2.840.10008.1.2"])]) { association in
                XCTAssertTrue(association.acceptedSyntaxes(for: "1.2.3.4.5.6").isEmpty, "an unknown SOP class is not accepted")
            }
        }
        let refusing = try StoreSCPPeer(arguments: ["--refuse"])
        do {
            _ = try await Association.open(configuration(refusing), contexts: [ProposedContext(id: 1, abstractSyntax: DIMSE.verificationSOPClass,
                                                                                              transferSyntaxes: ["1.2.840.10008.1.2"])]) { try await $0.echo() }
            XCTFail("association should be rejected")
        } catch let error as AssociationError {
            guard case .rejected = error else { return XCTFail("\(error)") }
        }
        refusing.stop()
        do {
            _ = try await Association.open(configuration(refusing), contexts: []) { _ in }
            XCTFail("nobody listens")
        } catch let error as AssociationError {
            XCTAssertTrue(error.isTransient, "\(error)")
        }
    }
}

/// Timers and peers that go away mid-message, with storescp's own fault options.
final class AssociationFaultTests: XCTestCase {
    private func store(_ peer: StoreSCPPeer, dimseTimeout: TimeAmount) async throws -> DIMSE.Response {
        var config = AssociationConfiguration(host: "127.0.0.1", port: peer.port, calledAE: peer.aeTitle, callingAE: "KIOSK",
                                              implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST")
        config.dimseTimeout = dimseTimeout
        let bytes = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        let file = try DICOMReader.read(InMemoryByteSource(bytes))
        let sopClass = try XCTUnwrap(file.dataSet.string(Tag.sopClassUID)), sop = try XCTUnwrap(file.dataSet.string(Tag.sopInstanceUID))
        let start = try XCTUnwrap(file.dataSet.elements.first?.offset)
        return try await Association.open(config, contexts: [ProposedContext(id: 1, abstractSyntax: sopClass,
                                                                            transferSyntaxes: [file.transferSyntax.uid])]) { association in
            let context = try XCTUnwrap(association.context(for: sopClass, transferSyntax: file.transferSyntax.uid))
            return try await association.store(sopClass: sopClass, sopInstance: sop, context: context, source: InMemoryByteSource(bytes),
                                               offset: start, length: Int64(bytes.count) - start)
        }
    }

    func testASlowPeerHitsTheDIMSETimeout() async throws {
        // The peer would answer after 30 s: ending well before that is the timeout's doing, however busy the machine.
        let peer = try StoreSCPPeer(arguments: ["+xa", "--sleep-during", "30"])
        let started = Date()
        do {
            _ = try await store(peer, dimseTimeout: .milliseconds(500))
            XCTFail("the response came before the timeout")
        } catch let error as AssociationError {
            guard case .timeout = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.isTransient)
            XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        }
    }

    func testAPeerAbortingMidStoreIsATransientError() async throws {
        for option in ["--abort-during", "--abort-after"] {
            let peer = try StoreSCPPeer(arguments: ["+xa", option])
            do {
                _ = try await store(peer, dimseTimeout: .seconds(10))
                XCTFail("\(option): stored although the peer aborted")
            } catch let error as AssociationError {
                XCTAssertTrue(error.isTransient, "\(option): \(error)")
            }
        }
    }
}
