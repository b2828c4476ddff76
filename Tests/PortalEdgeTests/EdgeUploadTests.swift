import AsyncHTTPClient
import Credentials
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import PortalEdge
import XCTest

/// Batches and tus uploads from the browser's side, and the link core collects them through.
final class EdgeUploadTests: XCTestCase {
    /// A signed-in patient's browser.
    static func signedIn(_ edge: EdgeTestServer, ref: String, email: String) async throws -> (BrowserSession, TOTP) {
        let token = try await edge.invite(ref: ref, email: email)
        let browser = BrowserSession(edge)
        let (totp, _) = try await EdgeAccountTests.enrol(browser, token: token)
        return (browser, totp)
    }

    /// Creates a tus upload of `bytes` in `batch` and sends it in chunks with their SHA-256; returns its URL path.
    static func upload(_ browser: BrowserSession, batch: String, name: String, bytes: [UInt8], chunk: Int = 100_000) async throws -> String {
        let metadata = ["batch": batch, "name": name].map { "\($0.key) \(Data($0.value.utf8).base64EncodedString())" }.joined(separator: ",")
        let created = try await browser.request(.POST, "/uploads/", headers: [("Tus-Resumable", "1.0.0"), ("Upload-Length", "\(bytes.count)"),
                                                                               ("Upload-Metadata", metadata)])
        XCTAssertEqual(created.status, .created, created.text)
        let location = try XCTUnwrap(created.headers["Location"].first)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            let piece = Array(bytes[offset..<end])
            let checksum = Data(SHA256.hash(data: piece)).base64EncodedString()
            let reply = try await browser.request(.PATCH, location, body: ByteBuffer(bytes: piece), headers: [
                ("Tus-Resumable", "1.0.0"), ("Upload-Offset", "\(offset)"), ("Content-Type", "application/offset+octet-stream"),
                ("Upload-Checksum", "sha256 \(checksum)"),
            ])
            XCTAssertEqual(reply.status, .noContent, reply.text)
            offset = end
        }
        return location
    }

    func testAPatientUploadsSubmitsAfterStepUpAndCoreCollectsAndAnswers() async throws {
        let edge = try await EdgeTestServer()
        do {
            let (browser, totp) = try await Self.signedIn(edge, ref: "21", email: "p21@example.org")
            var reply = try await browser.request(.POST, "/api/batches", json: ["label": "CT from St Elsewhere"])
            XCTAssertEqual(reply.status, .created, reply.text)
            let batch = try XCTUnwrap(reply.json["id"] as? String)
            let first = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let second = Array("DICM second file".utf8)
            _ = try await Self.upload(browser, batch: batch, name: "DICOM/IM0001", bytes: first)
            _ = try await Self.upload(browser, batch: batch, name: "DICOMDIR", bytes: second, chunk: 1 << 20)

            // A chunk whose checksum does not match is refused and not stored.
            let location = try await browser.request(.POST, "/uploads/", headers: [
                ("Tus-Resumable", "1.0.0"), ("Upload-Length", "4"),
                ("Upload-Metadata", "batch \(Data(batch.utf8).base64EncodedString()),name \(Data("x".utf8).base64EncodedString())"),
            ]).headers["Location"].first ?? ""
            reply = try await browser.request(.PATCH, location, body: ByteBuffer(bytes: [1, 2, 3, 4]), headers: [
                ("Tus-Resumable", "1.0.0"), ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
                ("Upload-Checksum", "sha256 \(Data(SHA256.hash(data: [9, 9])).base64EncodedString())"),
            ])
            XCTAssertEqual(reply.status.code, 460)
            reply = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: ["consent": true])
            XCTAssertEqual(reply.error, "batch.incomplete", "an unfinished upload holds the submission")
            reply = try await browser.request(.DELETE, location, headers: [("Tus-Resumable", "1.0.0")])
            XCTAssertEqual(reply.status, .noContent)

            // Step-up is fresh right after sign-in; later it must be renewed.
            edge.clock.advance(301)
            reply = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: ["consent": true])
            XCTAssertEqual(reply.error, "step-up.required")
            XCTAssertEqual(reply.status, .forbidden)
            reply = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: ["consent": false])
            XCTAssertEqual(reply.error, "step-up.required")

            // Another patient sees neither the batch nor its uploads.
            let (other, _) = try await Self.signedIn(edge, ref: "22", email: "p22@example.org")
            reply = try await other.request(.GET, "/api/batches/\(batch)")
            XCTAssertEqual(reply.status, .notFound)
            XCTAssertEqual(reply.error, "batch.not-found")
            let uploads = try await browser.request(.GET, "/api/batches/\(batch)").json["uploads"] as? [[String: Any]] ?? []
            XCTAssertEqual(uploads.count, 2)
            let firstID = try XCTUnwrap(uploads.first { $0["name"] as? String == "DICOM/IM0001" }?["id"] as? String)
            reply = try await other.request(.HEAD, "/uploads/\(firstID)", headers: [("Tus-Resumable", "1.0.0")])
            XCTAssertEqual(reply.status, .notFound)
            reply = try await other.request(.POST, "/uploads/", headers: [
                ("Tus-Resumable", "1.0.0"), ("Upload-Length", "4"),
                ("Upload-Metadata", "batch \(Data(batch.utf8).base64EncodedString()),name \(Data("x".utf8).base64EncodedString())"),
            ])
            XCTAssertEqual(reply.status, .notFound, "another patient cannot add to this batch")

            // Step-up with a fresh code, then submit.
            edge.clock.advance(31)
            reply = try await browser.request(.POST, "/api/step-up/totp", json: ["code": totp.code(at: edge.clock.now)])
            XCTAssertNotNil(reply.json["stepUpValidUntil"] as? String, reply.text)
            reply = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: ["consent": false])
            XCTAssertEqual(reply.error, "consent.required")
            reply = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: [
                "consent": true, "summary": ["studies": [["description": "CT HEAD", "images": 1, "patientMatches": true]]],
            ])
            XCTAssertEqual(reply.json["state"] as? String, "submitted", reply.text)
            reply = try await browser.request(.DELETE, "/api/batches/\(batch)")
            XCTAssertEqual(reply.error, "batch.closed")

            // Core collects it over the link: the list, each file's bytes and digest, then "received".
            let listed = try await edge.linkRequest(.GET, "/link/v1/batches?state=submitted").json["batches"] as? [[String: Any]] ?? []
            XCTAssertEqual(listed.count, 1)
            XCTAssertEqual(listed.first?["patient"] as? String, "21")
            XCTAssertEqual((listed.first?["summary"] as? [String: Any])?["studies"].map { _ in true }, true)
            let files = listed.first?["uploads"] as? [[String: Any]] ?? []
            XCTAssertEqual(files.count, 2)
            for file in files {
                let id = try XCTUnwrap(file["id"] as? String)
                let bytes = try await edge.linkRequest(.GET, "/link/v1/batches/\(batch)/uploads/\(id)")
                XCTAssertEqual(bytes.status, .ok)
                let expected = file["name"] as? String == "DICOMDIR" ? second : first
                XCTAssertEqual(Array(bytes.body), expected)
                let digest = SHA256.hash(data: expected).map { String(format: "%02x", $0) }.joined()
                XCTAssertEqual(file["sha256"] as? String, digest)
                XCTAssertEqual(bytes.headers["X-Content-SHA256"].first, digest)
            }
            let reply1 = try await edge.linkRequest(.POST, "/link/v1/batches/\(batch)/received")
            XCTAssertEqual(reply1.status, .noContent)
            let reply2 = try await edge.linkRequest(.POST, "/link/v1/batches/\(batch)/received")
            XCTAssertEqual(reply2.status, .noContent, "idempotent")
            let staged = try FileManager.default.contentsOfDirectory(atPath: edge.directory.path("state/staging")).filter { $0.hasSuffix(".stage") }
            XCTAssertEqual(staged, [], "the edge keeps no bytes core has")
            let reply3 = try await browser.request(.GET, "/api/batches/\(batch)")
            XCTAssertEqual(reply3.json["state"] as? String, "received")

            let result: [String: Any] = ["state": "delivered", "receiptCode": "ABCD-1234", "reachedHospital": true,
                                         "summary": "All 1 image reached the hospital.", "studies": [], "leftOut": []]
            let reply4 = try await edge.linkRequest(.PUT, "/link/v1/batches/\(batch)/result", json: result)
            XCTAssertEqual(reply4.status, .noContent)
            reply = try await browser.request(.GET, "/api/batches/\(batch)")
            XCTAssertEqual(reply.json["state"] as? String, "delivered")
            XCTAssertEqual((reply.json["result"] as? [String: Any])?["receiptCode"] as? String, "ABCD-1234")
            let list = try await browser.request(.GET, "/api/batches").json["batches"] as? [[String: Any]] ?? []
            XCTAssertEqual(list.map { $0["id"] as? String }, [batch])
            let othersList = try await other.request(.GET, "/api/batches").json["batches"] as? [[String: Any]]
            XCTAssertEqual(othersList?.count, 0)
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    /// A page closed while its creation was under way leaves an upload the browser never heard of; creating the same
    /// file again must not leave that one behind to keep the batch incomplete.
    func testACreationWhoseAnswerWasLostIsAnsweredWithTheSameEmptyUpload() async throws {
        let edge = try await EdgeTestServer()
        do {
            let (browser, _) = try await Self.signedIn(edge, ref: "41", email: "p41@example.org")
            let created = try await browser.request(.POST, "/api/batches")
            let batch = try XCTUnwrap(created.json["id"] as? String)
            func create(_ name: String, _ length: Int) async throws -> String {
                let reply = try await browser.request(.POST, "/uploads/", headers: [
                    ("Tus-Resumable", "1.0.0"), ("Upload-Length", "\(length)"),
                    ("Upload-Metadata", "batch \(Data(batch.utf8).base64EncodedString()),name \(Data(name.utf8).base64EncodedString())"),
                ])
                XCTAssertEqual(reply.status, .created, reply.text)
                return try XCTUnwrap(reply.headers["Location"].first)
            }
            let first = try await create("DICOM/IM1", 1000)
            let again = try await create("DICOM/IM1", 1000)
            XCTAssertEqual(again, first, "nothing written yet: the same upload answers")
            let otherLength = try await create("DICOM/IM1", 999)
            let otherName = try await create("DICOM/IM2", 1000)
            XCTAssertNotEqual(otherLength, first)
            XCTAssertNotEqual(otherName, first)
            // Once bytes are written, creating makes a new upload: the bytes may belong to another file of that name.
            let patched = try await browser.request(.PATCH, first, body: ByteBuffer(bytes: [UInt8](repeating: 7, count: 10)), headers: [
                ("Tus-Resumable", "1.0.0"), ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
            ])
            XCTAssertEqual(patched.status, .noContent, patched.text)
            let afterBytes = try await create("DICOM/IM1", 1000)
            XCTAssertNotEqual(afterBytes, first)
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testQuotasAndTheLinkRefusesAStrangersCertificate() async throws {
        let edge = try await EdgeTestServer(quota: UploadQuota(maxBytes: 1000, maxFiles: 2, maxOpenUploads: 1))
        do {
            let (browser, _) = try await Self.signedIn(edge, ref: "31", email: "p31@example.org")
            let created = try await browser.request(.POST, "/api/batches")
            let batch = try XCTUnwrap(created.json["id"] as? String)
            func create(_ length: Int) async throws -> BrowserSession.Reply {
                try await browser.request(.POST, "/uploads/", headers: [
                    ("Tus-Resumable", "1.0.0"), ("Upload-Length", "\(length)"),
                    ("Upload-Metadata", "batch \(Data(batch.utf8).base64EncodedString()),name \(Data("f".utf8).base64EncodedString())"),
                ])
            }
            let reply5 = try await create(2000)
            XCTAssertEqual(reply5.status.code, 413, "over the byte quota")
            let reply6 = try await create(100)
            XCTAssertEqual(reply6.status, .created)
            let reply7 = try await create(100)
            XCTAssertEqual(reply7.status.code, 429, "one unfinished upload at a time")

            // Without a client certificate the link's handshake fails.
            var request = HTTPClientRequest(url: edge.link + "/link/v1/health")
            request.method = .GET
            do {
                _ = try await edge.browserClient.execute(request, timeout: .seconds(10))
                XCTFail("the link answered a client without a certificate")
            } catch {}
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }
}
