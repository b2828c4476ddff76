#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import POSIX

/// Whole-file writes that are never seen half-done, through POSIX's `DurableFile`: keys are created with their
/// final mode, so they are never readable by others, not even for an instant.
enum AtomicFile {
    static func store(_ text: String, at path: String, mode: mode_t) throws(PKIError) {
        do {
            try DurableFile.writeAtomically(path: path, bytes: Array(text.utf8), permissions: mode)
        } catch {
            let what = switch error.step {
            case .create: "cannot create"
            case .write: "write failed"
            case .setPermissions: "chmod failed"
            case .sync: "fsync failed"
            case .rename: "rename failed"
            case .syncDirectory: "fsync of directory failed"
            }
            throw .file(path: error.path, reason: "\(what): \(error.errno)")
        }
    }

    static func read(_ path: String) throws(PKIError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .file(path: path, reason: "cannot read")
        }
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates `path` (0700, parents too) when missing; an existing directory keeps its mode.
    static func makeDirectory(_ path: String) throws(PKIError) {
        do {
            // Only the leaf is private: a parent made here may be the state directory itself, which the private
            // PostgreSQL cluster's account must be able to traverse.
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .file(path: path, reason: "cannot create directory")
        }
    }
}
