import Crypto
import Foundation
import NIOCore
import Uploads
import XCTest

/// A store in front of the real one whose appends fail as a full disk does (ENOSPC on write), after the real store
/// has written part of the chunk.
struct FullDiskStore: StagingStore {
    let inner: FileStagingStore

    func create(_ id: UploadID, key: SymmetricKey) async throws { try await inner.create(id, key: key) }
    func beginAppend(_ id: UploadID, key: SymmetricKey, at offset: Int64) async throws -> any StagedAppend {
        FullDiskAppend(inner: try await inner.beginAppend(id, key: key, at: offset))
    }
    func size(_ id: UploadID) async throws -> Int64 { try await inner.size(id) }
    func read(_ id: UploadID, key: SymmetricKey, length: Int64) async throws -> AsyncThrowingStream<ByteBuffer, any Error> {
        try await inner.read(id, key: key, length: length)
    }
    func remove(_ id: UploadID) async throws { try await inner.remove(id) }
    func list() async throws -> [UploadID] { try await inner.list() }
}

struct FullDiskAppend: StagedAppend {
    let inner: any StagedAppend
    func write(_ bytes: ByteBuffer) async throws { try await inner.write(bytes) }
    func commit() async throws -> Int64 { throw StagingError.storageFull }
    func abort() async throws { try await inner.abort() }
}

final class StagingFullTests: XCTestCase {
    func testAFullStagingDiskIs507AndTheOffsetStays() async throws {
        let server = try await TusTestServer(wrap: { FullDiskStore(inner: $0) })
        do {
            let id = try await server.create(length: 3 << 20)
            let reply = try await server.patch(id, offset: 0, bytes: randomBytes(2 << 20))
            XCTAssertEqual(reply.status, 507)
            XCTAssertTrue(reply.body.contains("staging storage is full"), reply.body)
            let offset = try await server.offset(id)
            XCTAssertEqual(offset, 0)
            let staged = try await server.fileStore.size(UploadID(id)!)
            XCTAssertEqual(staged, 0, "the refused chunk's segments were kept")
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    func testAfterAWriteRunOutOfSpaceOnlyAbortIsAccepted() async throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("staging-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (status, output) = try runProgram("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", directory])
        guard status == 0 else { throw XCTSkip("cannot mount a small tmpfs here: \(output)") }
        defer {
            _ = try? runProgram("/usr/bin/umount", [directory])
            try? FileManager.default.removeItem(atPath: directory)
        }
        let store = try FileStagingStore(directory: directory)
        let key = SymmetricKey(size: .bits256), id = UploadID.random()
        try await store.create(id, key: key)

        let append = try await store.beginAppend(id, key: key, at: 0)
        do {
            // Each segment is written while the next fills: a write that runs out of space fails this call.
            try await append.write(ByteBuffer(bytes: randomBytes(3 << 20)))
            XCTFail("3 MiB went into a 2 MiB file system")
        } catch StagingError.storageFull {}
        do {
            _ = try await append.commit()
            XCTFail("committed an append whose write failed")
        } catch StagingError.storageFull {}
        try await append.abort()
        let size = try await store.size(id)
        XCTAssertEqual(size, 0)
    }

    func testARealFullFileSystemIs507AndTheChunkIsNotKept() async throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        var mountOutput = ""
        let server = try await TusTestServer(prepareStaging: { staging in
            let (status, output) = try runProgram("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", staging])
            mountOutput = output
            guard status == 0 else { throw XCTSkip("cannot mount a small tmpfs here: \(output)") }
        })
        do {
            let id = try await server.create(length: 4 << 20)
            let full = try await server.patch(id, offset: 0, bytes: randomBytes(3 << 20))
            XCTAssertEqual(full.status, 507, "\(full.body) \(mountOutput)")
            let offset = try await server.offset(id)
            XCTAssertEqual(offset, 0)
            // The refused chunk's segments were cut away, so a chunk that fits goes in.
            let fits = try await server.patch(id, offset: 0, bytes: randomBytes(1 << 20))
            XCTAssertEqual(fits.status, 204, fits.body)
            XCTAssertEqual(fits.header("Upload-Offset"), String(1 << 20))
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }
}
