import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Uploads
import XCTest

/// Every status the tus server answers, over raw HTTP against a real server on loopback.
final class TusProtocolTests: XCTestCase {
    var server: TusTestServer!

    override func setUp() async throws {
        server = try await TusTestServer(maxSize: 8 << 20)
    }

    override func tearDown() async throws {
        try await server.shutdown()
    }

    func testOptionsAdvertisesVersionExtensionsMaxSizeAndChecksums() async throws {
        let reply = try await server.send(.OPTIONS, owner: nil, tus: false)
        XCTAssertEqual(reply.status, 204)
        XCTAssertEqual(reply.header("Tus-Version"), "1.0.0")
        XCTAssertEqual(reply.header("Tus-Extension"), "creation,expiration,checksum,termination")
        XCTAssertEqual(reply.header("Tus-Max-Size"), String(8 << 20))
        XCTAssertEqual(reply.header("Tus-Checksum-Algorithm"), "sha1,sha256")
    }

    func testRequestsWithoutTusResumable100Are412() async throws {
        let id = try await server.create(length: 10)
        for (method, path) in [(HTTPMethod.POST, ""), (.HEAD, id), (.PATCH, id), (.DELETE, id)] {
            let reply = try await server.send(method, path, tus: false, headers: [("Upload-Length", "10")])
            XCTAssertEqual(reply.status, 412, "\(method)")
            XCTAssertEqual(reply.header("Tus-Version"), "1.0.0")
        }
        let wrongVersion = try await server.send(.HEAD, id, tus: false, headers: [("Tus-Resumable", "0.2.2")])
        XCTAssertEqual(wrongVersion.status, 412)
    }

    func testRequestsWithoutAnOwnerAre401() async throws {
        let reply = try await server.send(.POST, owner: nil, headers: [("Upload-Length", "10")])
        XCTAssertEqual(reply.status, 401)
    }

    func testCreationValidatesLengthAndMetadata() async throws {
        let missing = try await server.send(.POST)
        XCTAssertEqual(missing.status, 400)
        let deferred = try await server.send(.POST, headers: [("Upload-Defer-Length", "1")])
        XCTAssertEqual(deferred.status, 400)
        let negative = try await server.send(.POST, headers: [("Upload-Length", "-1")])
        XCTAssertEqual(negative.status, 400)
        let tooLarge = try await server.send(.POST, headers: [("Upload-Length", String((8 << 20) + 1))])
        XCTAssertEqual(tooLarge.status, 413)
        for metadata in ["name not-base64!", "a x,a eA==", "bad key eA==", ""] {
            let reply = try await server.send(.POST, headers: [("Upload-Length", "1"), ("Upload-Metadata", metadata)])
            XCTAssertEqual(reply.status, 400, metadata)
        }

        let created = try await server.send(.POST, headers: [("Upload-Length", "5"),
                                                             ("Upload-Metadata", "filename c3R1ZHkuemlw,is_confidential")])
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.header("Tus-Resumable"), "1.0.0")
        let location = try XCTUnwrap(created.header("Location"))
        XCTAssertTrue(location.hasPrefix("/uploads/"), location)
        XCTAssertNotNil(created.header("Upload-Expires")?.range(of: #"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$"#,
                                                                  options: .regularExpression))

        let withoutSlash = try await server.send(.POST, String(server.baseURL.dropLast()), headers: [("Upload-Length", "1")])
        XCTAssertEqual(withoutSlash.status, 201, "the base path without its trailing slash")

        let head = try await server.send(.HEAD, "http://127.0.0.1:\(URL(string: server.baseURL)!.port!)\(location)")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Upload-Offset"), "0")
        XCTAssertEqual(head.header("Upload-Length"), "5")
        XCTAssertEqual(head.header("Upload-Metadata"), "filename c3R1ZHkuemlw,is_confidential")
        XCTAssertEqual(head.header("Cache-Control"), "no-store")
    }

    /// `batchFor` sees the parsed metadata and can refuse the upload with a status of its own; nothing is created.
    func testBatchForRefusesWithItsOwnStatus() async throws {
        let refused = try await server.send(.POST, headers: [("Upload-Length", "5"), ("Upload-Metadata", "refuse-with NDIy")])
        XCTAssertEqual(refused.status, 422)
        XCTAssertEqual(refused.header("Tus-Resumable"), "1.0.0")
        XCTAssertEqual(refused.body, "refused by batchFor\n")
        XCTAssertNil(refused.header("Location"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: server.directory + "/registry"), [])
    }

    func testPatchRefusesWrongContentTypeWrongOffsetAndBytesPastTheLength() async throws {
        let id = try await server.create(length: 10)
        let wrongType = try await server.send(.PATCH, id, headers: [("Content-Type", "application/octet-stream"),
                                                                    ("Upload-Offset", "0")],
                                              body: .bytes(ByteBuffer(bytes: [1, 2, 3])))
        XCTAssertEqual(wrongType.status, 415)
        let noOffset = try await server.send(.PATCH, id, headers: [("Content-Type", "application/offset+octet-stream")],
                                             body: .bytes(ByteBuffer(bytes: [1])))
        XCTAssertEqual(noOffset.status, 400)
        let wrongOffset = try await server.patch(id, offset: 3, bytes: [1, 2, 3])
        XCTAssertEqual(wrongOffset.status, 409)
        let pastLength = try await server.patch(id, offset: 0, bytes: Array(repeating: 7, count: 11))
        XCTAssertEqual(pastLength.status, 413)
        let offsetAfterRefusals = try await server.offset(id)
        XCTAssertEqual(offsetAfterRefusals, 0)

        let first = try await server.patch(id, offset: 0, bytes: [1, 2, 3, 4])
        XCTAssertEqual(first.status, 204)
        XCTAssertEqual(first.header("Upload-Offset"), "4")
        XCTAssertNotNil(first.header("Upload-Expires"))
        let stale = try await server.patch(id, offset: 0, bytes: [1, 2, 3, 4])
        XCTAssertEqual(stale.status, 409)
        XCTAssertEqual(stale.header("Upload-Offset"), "4")
    }

    func testPastTheLengthWithoutContentLengthIsRefusedWhileStreaming() async throws {
        let id = try await server.create(length: 10)
        let chunks = AsyncStream<ByteBuffer> { continuation in
            continuation.yield(ByteBuffer(bytes: Array(repeating: 1, count: 8)))
            continuation.yield(ByteBuffer(bytes: Array(repeating: 2, count: 8)))
            continuation.finish()
        }
        let reply = try await server.send(.PATCH, id, headers: [("Content-Type", "application/offset+octet-stream"),
                                                                ("Upload-Offset", "0")],
                                          body: .stream(chunks, length: .unknown))
        XCTAssertEqual(reply.status, 413)
        let offset = try await server.offset(id)
        XCTAssertEqual(offset, 0)
    }

    func testChecksumMismatchIs460AndTheChunkIsDiscarded() async throws {
        let data = randomBytes(3000)
        let id = try await server.create(length: data.count)
        let wrong = try await server.patch(id, offset: 0, bytes: Array(data[0..<1000]),
                                           extra: [("Upload-Checksum", checksum("sha256", Array(data[1000..<2000])))])
        XCTAssertEqual(wrong.status, 460)
        let offsetAfterMismatch = try await server.offset(id)
        XCTAssertEqual(offsetAfterMismatch, 0)

        let unsupported = try await server.patch(id, offset: 0, bytes: Array(data[0..<1000]),
                                                 extra: [("Upload-Checksum", "md5 AAAAAAAAAAAAAAAAAAAAAA==")])
        XCTAssertEqual(unsupported.status, 400)
        for malformed in ["sha256", "sha256 not-base64!", "sha1 \(Data(count: 5).base64EncodedString())"] {
            let reply = try await server.patch(id, offset: 0, bytes: Array(data[0..<1000]), extra: [("Upload-Checksum", malformed)])
            XCTAssertEqual(reply.status, 400, malformed)
        }

        let sha1 = try await server.patch(id, offset: 0, bytes: Array(data[0..<1000]),
                                          extra: [("Upload-Checksum", checksum("sha1", Array(data[0..<1000])))])
        XCTAssertEqual(sha1.status, 204)
        let sha256 = try await server.patch(id, offset: 1000, bytes: Array(data[1000...]),
                                            extra: [("Upload-Checksum", checksum("sha256", Array(data[1000...])))])
        XCTAssertEqual(sha256.status, 204)
        XCTAssertEqual(sha256.header("Upload-Offset"), "3000")
        let readBack = try await server.readBack(id, length: data.count)
        XCTAssertEqual(readBack, data)
    }

    func testUnknownIdsAndOtherOwnersUploadsAre404() async throws {
        let id = try await server.create(length: 10)
        let unknown = try await server.send(.HEAD, String(repeating: "0", count: 32))
        XCTAssertEqual(unknown.status, 404)
        let malformed = try await server.send(.HEAD, "../registry")
        XCTAssertEqual(malformed.status, 404)

        let head = try await server.send(.HEAD, id, owner: "mallory")
        XCTAssertEqual(head.status, 404)
        let patch = try await server.patch(id, offset: 0, bytes: [1], owner: "mallory")
        XCTAssertEqual(patch.status, 404)
        let delete = try await server.send(.DELETE, id, owner: "mallory")
        XCTAssertEqual(delete.status, 404)
        let ownersOffset = try await server.offset(id)
        XCTAssertEqual(ownersOffset, 0)
    }

    func testUnfinishedUploadsExpireWith410AndTheSweepRemovesThem() async throws {
        let id = try await server.create(length: 10)
        let finished = try await server.create(length: 2)
        _ = try await server.patch(finished, offset: 0, bytes: [1, 2])
        server.advanceClock(by: 3601)

        let head = try await server.send(.HEAD, id)
        XCTAssertEqual(head.status, 410)
        let patch = try await server.patch(id, offset: 0, bytes: [1])
        XCTAssertEqual(patch.status, 410)

        let removed = try await server.tus.expire()
        XCTAssertEqual(removed.map(\.rawValue), [id])
        let afterSweep = try await server.send(.HEAD, id)
        XCTAssertEqual(afterSweep.status, 404)
        let staged = try await server.fileStore.list()
        XCTAssertEqual(staged.map(\.rawValue), [finished], "a finished upload waits for the pipeline")
    }

    func testTheSweepRemovesStagedBytesWhoseRecordIsGone() async throws {
        let id = try await server.create(length: 10)
        let kept = try await server.create(length: 10)
        try await server.registry.delete(UploadID(id)!)
        let removed = try await server.tus.expire()
        XCTAssertEqual(removed.map(\.rawValue), [id])
        let staged = try await server.fileStore.list()
        XCTAssertEqual(staged.map(\.rawValue), [kept])
    }

    func testDeleteTerminatesAndRemovesTheBytes() async throws {
        let id = try await server.create(length: 10)
        _ = try await server.patch(id, offset: 0, bytes: [1, 2, 3])
        let stagedFile = server.fileStore.directory + "/\(id).stage"
        XCTAssertTrue(FileManager.default.fileExists(atPath: stagedFile))

        let delete = try await server.send(.DELETE, id)
        XCTAssertEqual(delete.status, 204)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stagedFile))
        let head = try await server.send(.HEAD, id)
        XCTAssertEqual(head.status, 404)
        let again = try await server.send(.DELETE, id)
        XCTAssertEqual(again.status, 404)
    }

    func testConcurrentPatchesOnOneUploadOneWinsTheOtherIs409() async throws {
        let id = try await server.create(length: 200_000)
        let (chunks, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
        let server = server!
        let slow = Task {
            try await server.send(.PATCH, id, headers: [("Content-Type", "application/offset+octet-stream"),
                                                        ("Upload-Offset", "0")],
                                  body: .stream(chunks, length: .known(Int64(100_000))))
        }
        feed.yield(ByteBuffer(bytes: Array(repeating: 1, count: 50_000)))
        // Give the slow PATCH time to reach the server and take the upload before the rival arrives.
        try await Task.sleep(for: .milliseconds(300))
        let rival = try await server.patch(id, offset: 0, bytes: Array(repeating: 2, count: 100_000))
        XCTAssertEqual(rival.status, 409)
        feed.yield(ByteBuffer(bytes: Array(repeating: 1, count: 50_000)))
        feed.finish()
        let winner = try await slow.value
        XCTAssertEqual(winner.status, 204)
        XCTAssertEqual(winner.header("Upload-Offset"), "100000")
        let readBack = try await server.readBack(id, length: 100_000)
        XCTAssertEqual(readBack, Array(repeating: 1, count: 100_000))
    }

    /// The server stopped after recording an upload but before making its staged file (or before the file's header
    /// reached the disk): the upload still takes its bytes from offset 0, instead of failing on every retry.
    func testAnUploadWhoseCreationWasCutShortStillTakesItsBytes() async throws {
        let data = randomBytes(70_000)
        let missing = try await server.create(length: data.count)
        try FileManager.default.removeItem(atPath: "\(server.directory)/staging/\(missing).stage")
        let torn = try await server.create(length: data.count)
        try Data("DPST".utf8).write(to: URL(fileURLWithPath: "\(server.directory)/staging/\(torn).stage"))
        for id in [missing, torn] {
            let head = try await server.offset(id)
            XCTAssertEqual(head, 0)
            let patched = try await server.patch(id, offset: 0, bytes: data)
            XCTAssertEqual(patched.status, 204, patched.body)
            let readBack = try await server.readBack(id, length: data.count)
            XCTAssertEqual(sha256Hex(readBack), sha256Hex(data))
        }
    }

    func testResumeAfterHeadAndReadBackMatchesTheSource() async throws {
        let data = randomBytes(3 * (1 << 20) + 12345)
        let id = try await server.create(length: data.count, metadata: "filename c3R1ZHkuemlw")
        let cut = 1_500_000
        let first = try await server.patch(id, offset: 0, bytes: Array(data[0..<cut]))
        XCTAssertEqual(first.status, 204)
        XCTAssertTrue(server.completed.withLock { $0.isEmpty })

        let head = try await server.offset(id)
        let offset = try XCTUnwrap(head)
        XCTAssertEqual(offset, cut)
        let rest = try await server.patch(id, offset: offset, bytes: Array(data[offset...]),
                                          extra: [("Upload-Checksum", checksum("sha256", Array(data[offset...])))])
        XCTAssertEqual(rest.status, 204)
        XCTAssertEqual(rest.header("Upload-Offset"), String(data.count))
        XCTAssertNil(rest.header("Upload-Expires"), "a finished upload no longer expires")

        let again = try await server.patch(id, offset: data.count, bytes: [])
        XCTAssertEqual(again.status, 204, "an empty PATCH at the end")
        let completed = server.completed.withLock { $0 }
        XCTAssertEqual(completed.map(\.id.rawValue), [id], "completion is announced once")
        XCTAssertEqual(completed.first?.batch, "batch-alice")
        let readBack = try await server.readBack(id, length: data.count)
        XCTAssertEqual(sha256Hex(readBack), sha256Hex(data))
    }

    func testAClientCutMidPatchResumesAtHeadsOffset() async throws {
        let data = randomBytes(4 << 20)
        let id = try await server.create(length: data.count)
        let (chunks, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
        let server = server!
        let cut = Task {
            try await server.send(.PATCH, id, headers: [("Content-Type", "application/offset+octet-stream"),
                                                        ("Upload-Offset", "0")],
                                  body: .stream(chunks, length: .known(Int64(data.count))))
        }
        let sent = 2_500_000
        for start in stride(from: 0, to: sent, by: 100_000) {
            feed.yield(ByteBuffer(bytes: data[start..<start + 100_000]))
        }
        try await Task.sleep(for: .milliseconds(300))
        cut.cancel()
        _ = await cut.result

        // Without a checksum the bytes that arrived before the cut are kept; HEAD says how many. Until the server has
        // noticed the cut (later on a busy machine) the upload is still being written: a PATCH then gets 409, and the
        // client asks HEAD again, as tus clients do.
        var offset = 0
        var rest: (status: Int, body: String) = (0, "")
        for _ in 0..<400 where rest.status != 204 {
            try await Task.sleep(for: .milliseconds(50))
            offset = try await server.offset(id) ?? 0
            guard offset > 0 else { continue }
            let answer = try await server.patch(id, offset: offset, bytes: Array(data[offset...]))
            rest = (answer.status, answer.body)
            XCTAssertTrue(answer.status == 204 || answer.status == 409, answer.body)
        }
        XCTAssertGreaterThan(offset, 0)
        XCTAssertLessThanOrEqual(offset, sent)
        XCTAssertEqual(rest.status, 204, rest.body)
        let readBack = try await server.readBack(id, length: data.count)
        XCTAssertEqual(sha256Hex(readBack), sha256Hex(data))
    }

    func testALargeChunkStreamsThroughBoundedMemory() async throws {
        let server = try await TusTestServer(maxSize: 1 << 30)
        do {
            let length = 160 << 20
            let id = try await server.create(length: length)
            let piece = ByteBuffer(bytes: randomBytes(64 * 1024))
            let produced = Locked(0)
            // Pulled lazily by the client, so neither side can hold the chunk unless the server buffers it.
            let body = AsyncStream<ByteBuffer>(unfolding: {
                produced.withLock { count in
                    guard count < length else { return nil }
                    count += piece.readableBytes
                    return piece
                }
            })
            let before = try peakResidentBytes()
            let reply = try await server.send(.PATCH, id, headers: [("Content-Type", "application/offset+octet-stream"),
                                                                    ("Upload-Offset", "0")],
                                              body: .stream(body, length: .known(Int64(length))))
            XCTAssertEqual(reply.status, 204, reply.body)
            XCTAssertEqual(reply.header("Upload-Offset"), String(length))
            let growth = try peakResidentBytes() - before
            XCTAssertLessThan(growth, 48 << 20, "peak RSS grew by \(growth >> 20) MiB for a \(length >> 20) MiB chunk")
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    func testEmptyUploadIsCompleteOnCreation() async throws {
        let id = try await server.create(length: 0)
        XCTAssertEqual(server.completed.withLock { $0.map(\.id.rawValue) }, [id])
        let readBack = try await server.readBack(id, length: 0)
        XCTAssertEqual(readBack, [])
    }
}

/// VmHWM of this process: the most memory it has held resident so far.
func peakResidentBytes() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { throw XCTSkip("no VmHWM in /proc/self/status") }
    return kib * 1024
}
