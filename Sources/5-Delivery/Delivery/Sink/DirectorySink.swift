import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Rebuilt files written under a directory at their path on the medium (`inspect --output`). Each
/// is written to a temporary name beside its target and renamed into place on commit, so no
/// reader ever sees half a file. Nothing is indexed, and every file is written whatever its UID:
/// two files with one SOP Instance UID are two files to look at, not a conflict.
public struct DirectorySink: DeliverySink {
    public let root: URL

    public init(root: URL) throws {
        self.root = root.standardizedFileURL
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
    }

    public func stage(_ instance: AdmittedInstance, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance {
        let components = instance.mediaPath.split(separator: "/", omittingEmptySubsequences: true)
        // The admission checked the path; a path that could still leave the root is refused here too.
        guard !components.isEmpty, !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw StagingError.io("place \(instance.mediaPath)", errno: EINVAL)
        }
        let relative = components.joined(separator: "/")
        let directory = root.appendingPathComponent(relative).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let bytes = try Staging.write(into: directory, write)
        return StagedInstance(instance: instance, bytes: bytes, path: relative)
    }

    public func commit(_ staged: [StagedInstance]) throws -> [SinkOutcome] {
        // A copy to look at, not the archive: renamed into place, not synced to disk.
        for (offset, file) in staged.enumerated() {
            guard rename(file.bytes.temporary.path, root.appendingPathComponent(file.path).path) == 0 else {
                let code = errno
                discard(Array(staged[offset...]))
                throw StagingError.io("rename into \(file.path)", errno: code)
            }
        }
        return staged.map { _ in .stored }
    }
}

/// A sink that keeps nothing (`inspect` without `--output`): the rebuilt bytes are read to the end
/// (a rebuild that fails still shows) and dropped.
public struct DiscardSink: DeliverySink {
    /// A directory of the caller's; nothing is written to it.
    public let root: URL

    public init(root: URL) { self.root = root }

    public func stage(_ instance: AdmittedInstance, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance {
        var size: Int64 = 0
        try write { size += Int64($0.count) }
        // A name that is never created: `discard` unlinks it, and must find nothing there.
        let none = root.appendingPathComponent("discarded-\(UUID().uuidString)")
        return StagedInstance(instance: instance, bytes: StagedBytes(temporary: none, size: size, sha256: ""), path: "")
    }

    public func commit(_ staged: [StagedInstance]) throws -> [SinkOutcome] { staged.map { _ in .stored } }
}
