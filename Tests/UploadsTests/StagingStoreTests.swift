import Crypto
import Foundation
import NIOCore
import Uploads
import XCTest

/// The encrypted staging store on its own: sealing, tamper detection, crash recovery, durability of appends.
final class StagingStoreTests: XCTestCase {
    var directory: String!
    var store: FileStagingStore!
    let key = SymmetricKey(size: .bits256)

    override func setUp() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("staging-\(UUID().uuidString)").path
        store = try FileStagingStore(directory: directory)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func stage(_ bytes: [UInt8], id: UploadID = .random(), chunk: Int = 64 * 1024) async throws -> UploadID {
        try await store.create(id, key: key)
        let append = try await store.beginAppend(id, key: key, at: 0)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            try await append.write(ByteBuffer(bytes: bytes[start..<min(start + chunk, bytes.count)]))
        }
        let size = try await append.commit()
        XCTAssertEqual(size, Int64(bytes.count))
        return id
    }

    private func readAll(_ id: UploadID, length: Int, key: SymmetricKey? = nil) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in try await store.read(id, key: key ?? self.key, length: Int64(length)) {
            bytes += chunk.readableBytesView
        }
        return bytes
    }

    private func stagedFile(_ id: UploadID) -> String { "\(directory!)/\(id).stage" }

    func testStagedBytesAreEncryptedAndReadBackIntact() async throws {
        let marker = Array("PATIENT^MARKER^1234567890".utf8)
        var plaintext: [UInt8] = []
        while plaintext.count < 2_500_000 { plaintext += marker }
        let id = try await stage(plaintext)

        let onDisk = try XCTUnwrap(FileManager.default.contents(atPath: stagedFile(id)))
        XCTAssertNil(onDisk.range(of: Data(marker)), "the marker is on disk in clear")
        XCTAssertNil(onDisk.range(of: Data("PATIENT".utf8)))
        let readBack = try await readAll(id, length: plaintext.count)
        XCTAssertEqual(readBack, plaintext)
    }

    func testChunksOfAnySizeFillWholeSegmentsAndReadBackIntact() async throws {
        let plaintext = randomBytes(5 * (1 << 20) + 12_345)
        let id = UploadID.random()
        try await store.create(id, key: key)
        let append = try await store.beginAppend(id, key: key, at: 0)
        // Chunks smaller than a segment (512 KiB written), across its boundary, and larger than several segments.
        var start = 0
        for size in [1, 65_537, (1 << 19) - 3, 7, (5 << 19) + 1, 4096] + Array(repeating: 100_000, count: 20) {
            let end = min(start + size, plaintext.count)
            try await append.write(ByteBuffer(bytes: plaintext[start..<end]))
            start = end
        }
        try await append.write(ByteBuffer(bytes: plaintext[start...]))
        let committed = try await append.commit()
        XCTAssertEqual(committed, Int64(plaintext.count))

        // Eleven segments, the first ten full: header + (length prefix + tag) per segment + plaintext.
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: stagedFile(id))[.size] as? Int)
        XCTAssertEqual(size, 16 + 11 * 20 + plaintext.count)
        let readBack = try await readAll(id, length: plaintext.count)
        XCTAssertEqual(readBack, plaintext)
    }

    /// Earlier versions wrote segments of 1 MiB, the most a segment may hold: such files read and resume.
    func testAFileOfLargestSegmentsReadsBackAndResumes() async throws {
        let id = UploadID.random()
        try await store.create(id, key: key)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: stagedFile(id)))
        let header = try XCTUnwrap(try handle.readToEnd())
        let first = randomBytes(1 << 20)
        // As SegmentFormat describes: nonce = the header's prefix + index; authenticated data names upload and index.
        let box = try AES.GCM.seal(first, using: key, nonce: AES.GCM.Nonce(data: header.suffix(8) + [0, 0, 0, 0]),
                                   authenticating: Data("dicom-portal staging segment\0\(id)".utf8) + Data(count: 8))
        handle.write(Data([0, 0x10, 0, 0x10]) + box.ciphertext + box.tag)
        try handle.close()

        let size = try await store.size(id)
        XCTAssertEqual(size, 1 << 20)
        let rest = randomBytes(700_000)
        let append = try await store.beginAppend(id, key: key, at: size)
        try await append.write(ByteBuffer(bytes: rest))
        _ = try await append.commit()
        let readBack = try await readAll(id, length: first.count + rest.count)
        XCTAssertEqual(readBack, first + rest)
    }

    func testAFlippedByteInASegmentFailsReadBack() async throws {
        let plaintext = randomBytes(2_200_000)
        let id = try await stage(plaintext)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: stagedFile(id)))
        // In the second segment: segments are written with 512 KiB of plaintext.
        try handle.seek(toOffset: 800_000)
        let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: 800_000)
        handle.write(Data([byte ^ 0x01]))
        try handle.close()

        do {
            _ = try await readAll(id, length: plaintext.count)
            XCTFail("a tampered segment was read back")
        } catch let error as StagingError {
            guard case .corrupt(_, let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("segment 1"), why)
        }
    }

    func testSegmentsCannotBeMovedToAnotherUploadOrReadWithAnotherKey() async throws {
        let plaintext = randomBytes(100_000)
        let original = try await stage(plaintext)
        let other = try await stage(randomBytes(100_000))
        // Another upload's file, in the same batch (same key), put in this upload's place.
        try FileManager.default.removeItem(atPath: stagedFile(other))
        try FileManager.default.copyItem(atPath: stagedFile(original), toPath: stagedFile(other))
        do {
            _ = try await readAll(other, length: plaintext.count)
            XCTFail("a segment replayed from another upload was accepted")
        } catch StagingError.corrupt {}
        do {
            _ = try await readAll(original, length: plaintext.count, key: SymmetricKey(size: .bits256))
            XCTFail("read back with another batch's key")
        } catch StagingError.corrupt {}
    }

    func testATruncatedFileIsAnErrorNotAShorterUpload() async throws {
        let plaintext = randomBytes(3 * (1 << 20))
        let id = try await stage(plaintext)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: stagedFile(id))[.size] as? Int)
        XCTAssertEqual(truncate(stagedFile(id), off_t(size - (1 << 19) - 20)), 0)
        do {
            _ = try await readAll(id, length: plaintext.count)
            XCTFail("a file missing its last segment was read back")
        } catch StagingError.corrupt {}
    }

    func testATornLastSegmentIsCutBackAndTheUploadResumes() async throws {
        let plaintext = randomBytes((1 << 20) + 5000)
        let id = try await stage(Array(plaintext[0..<(1 << 20)]))
        let whole = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: stagedFile(id))[.size] as? Int)

        // A crash in the middle of writing the next segment: its length prefix and part of its bytes.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: stagedFile(id)))
        try handle.seekToEnd()
        handle.write(Data([0, 0, 0x13, 0xA0]) + Data(repeating: 0x55, count: 3000))
        try handle.close()

        let size = try await store.size(id)
        XCTAssertEqual(size, 1 << 20)
        let afterRepair = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: stagedFile(id))[.size] as? Int)
        XCTAssertEqual(afterRepair, whole)

        let append = try await store.beginAppend(id, key: key, at: size)
        try await append.write(ByteBuffer(bytes: plaintext[(1 << 20)...]))
        let committed = try await append.commit()
        XCTAssertEqual(committed, Int64(plaintext.count))
        let readBack = try await readAll(id, length: plaintext.count)
        XCTAssertEqual(readBack, plaintext)
    }

    /// A file whose header a crash cut short (nothing can follow it) starts again empty; a broken header with
    /// segments behind it is damage and stays an error.
    func testATornHeaderStartsTheFileAgainButADamagedOneIsAnError() async throws {
        for torn in [Data(), Data("DPSTA".utf8), Data(repeating: 0, count: 16)] {
            let id = UploadID.random()
            try await store.create(id, key: key)
            try torn.write(to: URL(fileURLWithPath: stagedFile(id)))
            let size = try await store.size(id)
            XCTAssertEqual(size, 0)
            let append = try await store.beginAppend(id, key: key, at: 0)
            try await append.write(ByteBuffer(bytes: [1, 2, 3]))
            let committed = try await append.commit()
            XCTAssertEqual(committed, 3)
            let readBack = try await readAll(id, length: 3)
            XCTAssertEqual(readBack, [1, 2, 3])
        }
        let damaged = try await stage(Array(repeating: 7, count: 5000))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: stagedFile(damaged)))
        handle.write(Data(repeating: 0, count: 16))
        try handle.close()
        do {
            _ = try await store.size(damaged)
            XCTFail("a zeroed header in front of segments must be an error")
        } catch let error as StagingError {
            XCTAssertEqual(error, .corrupt(damaged, "no staging header"))
        }
    }

    func testAnAbortedAppendLeavesTheUploadWhereItWas() async throws {
        let id = try await stage(Array(repeating: 1, count: 1000))
        let append = try await store.beginAppend(id, key: key, at: 1000)
        try await append.write(ByteBuffer(bytes: randomBytes(3 * (1 << 20))))
        try await append.abort()
        let size = try await store.size(id)
        XCTAssertEqual(size, 1000)
        let readBack = try await readAll(id, length: 1000)
        XCTAssertEqual(readBack, Array(repeating: 1, count: 1000))
    }

    func testAnAppendAtAnOffsetTheStoreDoesNotHoldIsRefused() async throws {
        let id = try await stage(Array(repeating: 1, count: 1000))
        do {
            _ = try await store.beginAppend(id, key: key, at: 500)
            XCTFail("appended in the middle of a segment")
        } catch let StagingError.offsetMismatch(_, expected, stored) {
            XCTAssertEqual(expected, 500)
            XCTAssertEqual(stored, 1000)
        }
        do {
            _ = try await store.beginAppend(.random(), key: key, at: 0)
            XCTFail("appended to an upload that does not exist")
        } catch StagingError.notFound {}
    }

    func testUnacknowledgedSegmentsPastTheRequestedOffsetAreDropped() async throws {
        let id = try await stage(Array(repeating: 1, count: 1000))
        // Committed to the store, but the registry never moved past 1000 (a crash before it was updated).
        let append = try await store.beginAppend(id, key: key, at: 1000)
        try await append.write(ByteBuffer(bytes: Array(repeating: 2, count: 500)))
        _ = try await append.commit()

        let resumed = try await store.beginAppend(id, key: key, at: 1000)
        try await resumed.write(ByteBuffer(bytes: Array(repeating: 3, count: 500)))
        _ = try await resumed.commit()
        let readBack = try await readAll(id, length: 1500)
        XCTAssertEqual(readBack, Array(repeating: 1, count: 1000) + Array(repeating: 3, count: 500))
    }

    func testCreateListAndRemove() async throws {
        let id = try await stage([1, 2, 3])
        do {
            try await store.create(id, key: key)
            XCTFail("created an upload twice")
        } catch StagingError.alreadyExists {}
        let listed = try await store.list()
        XCTAssertEqual(listed, [id])
        try await store.remove(id)
        try await store.remove(id)
        let afterRemoval = try await store.list()
        XCTAssertEqual(afterRemoval, [])
    }
}
