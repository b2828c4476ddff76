import PortalProtocol
import Crypto
import Foundation
import NIOCore
import POSIX
import PortalStore
import Uploads
#if canImport(Glibc)
import Glibc
#endif

/// Decrypts a batch's uploads from the staging store into the worker's private scratch directory, as media
/// the pipeline reads through its sandboxed helper: every loose file under one directory (a folder, a
/// DICOMDIR tree, single files), and each ZIP archive as a medium of its own (opened by the helper, where
/// its limits apply). What is an archive is decided by content, never by name.
struct BatchUnpacker {
    struct Unpacked {
        /// The directory of loose files, when there were any.
        var directory: String?
        var archives: [(path: String, name: String)] = []
        /// Uploads that could not be used, with the reason (never patient data).
        var problems: [String] = []
        var bytes: Int64 = 0
    }

    let store: any StagingStore
    /// Where this batch's files go; created empty here, removed by the caller.
    let scratch: String

    /// Uploads decrypted at once: each is a stream of AES-GCM opens, hashing and writes that one core finishes
    /// alone, while the batch's uploads are independent.
    static let parallelUploads = 4

    func unpack(_ batch: WorkerBatch) async throws -> Unpacked {
        var unpacked = Unpacked()
        let files = scratch + "/files"
        let archives = scratch + "/archives"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: archives, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let uploads = batch.uploads.sorted(by: { $0.id.rawValue < $1.id.rawValue })
        let written = try await decrypt(uploads, keyBytes: batch.keyBytes)
        // Placed in upload order, so names and archive numbers do not depend on which decryption finished first.
        var taken = Set<String>()
        for (index, upload) in uploads.enumerated() {
            let claimed = upload.metadata("relativePath") ?? upload.metadata("filename")
            var name = MediaNames.relativePath(claimed, fallback: "upload-\(index + 1)")
            if taken.contains(name) { name += "~\(index + 1)" }
            taken.insert(name)
            let temporary = Self.temporary(scratch, index)
            let digest: String
            let isArchive: Bool
            switch written[index] {
            case .failure(let error):
                unlink(temporary)
                unpacked.problems.append("upload \(upload.id) \(BatchProblem.unreadable): \(error)")
                continue
            case .success(let result):
                (digest, isArchive) = result
            }
            if let declared = upload.metadata("sha256"), declared.lowercased() != digest {
                unlink(temporary)
                unpacked.problems.append("upload \(upload.id): \(BatchProblem.changedBytes)")
                continue
            }
            unpacked.bytes += upload.length
            let destination: String
            if isArchive {
                destination = archives + "/\(unpacked.archives.count + 1).zip"
                unpacked.archives.append((destination, name))
            } else {
                destination = files + "/" + name
                try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                unpacked.directory = files
            }
            guard rename(temporary, destination) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                unpacked.problems.append("upload \(upload.id) could not be placed in scratch: \(reason)")
                continue
            }
        }
        return unpacked
    }

    private static func temporary(_ scratch: String, _ index: Int) -> String { scratch + "/incoming-\(index)" }

    /// Every upload's plaintext to its temporary file, `parallelUploads` at a time; per upload, its digest and
    /// whether it is an archive, or why it could not be read.
    private func decrypt(_ uploads: [UploadRecord], keyBytes: Data) async throws -> [Result<(String, Bool), any Error>] {
        var results = [Result<(String, Bool), any Error>?](repeating: nil, count: uploads.count)
        try await withThrowingTaskGroup(of: (Int, Result<(String, Bool), any Error>).self) { group in
            var next = 0
            func start() {
                guard next < uploads.count else { return }
                let index = next, upload = uploads[index], path = Self.temporary(scratch, index)
                next += 1
                group.addTask {
                    do { return (index, .success(try await write(upload, key: SymmetricKey(data: keyBytes), to: path))) } catch { return (index, .failure(error)) }
                }
            }
            for _ in 0..<Self.parallelUploads { start() }
            while let (index, result) = try await group.next() {
                try Task.checkCancellation()
                results[index] = result
                start()
            }
        }
        return results.map { $0 ?? .failure(CancellationError()) }
    }

    /// Streams the upload's plaintext to `path`; returns its SHA-256 and whether it is a ZIP archive.
    private func write(_ upload: UploadRecord, key: SymmetricKey, to path: String) async throws -> (String, Bool) {
        let file = try Descriptor.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions: 0o600)
        var hasher = SHA256()
        var head: [UInt8] = []
        var written: Int64 = 0
        for try await chunk in try await store.read(upload.id, key: key, length: upload.length) {
            try chunk.withUnsafeReadableBytes { bytes in
                hasher.update(bufferPointer: bytes)
                if head.count < 4 { head += bytes.prefix(4 - head.count) }
                try file.writeAll(bytes)
            }
            written += Int64(chunk.readableBytes)
        }
        guard written == upload.length else { throw StagingError.corrupt(upload.id, "\(written) bytes where \(upload.length) were recorded") }
        let digest = Hex.encode(hasher.finalize())
        // Local file header, or the end record of an empty archive.
        let isArchive = head == [0x50, 0x4B, 0x03, 0x04] || head == [0x50, 0x4B, 0x05, 0x06]
        return (digest, isArchive)
    }
}
