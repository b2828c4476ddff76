import Foundation
import POSIX
import PortalProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The durable outbox of session manifests for the portal: `SPOOL/portal-manifests/<session>.json`, each the
/// manifest's bytes exactly as they will be signed and sent. A manifest is on disk (file and directory synced)
/// before `enqueue` returns, so a session the kiosk called done is announced to core even if the agent is killed
/// or the portal is unreachable for days; `PortalTarget.sendPendingManifests` empties it.
///
/// The signature is made when sending, not here: the key stays with the target, and a kiosk whose certificate was
/// re-issued signs its backlog with the key core now knows.
///
/// A manifest core refused for good (409: it holds different bytes for the session; 400: unreadable) moves to
/// `failed/<session>.json` with the portal's answer in `failed/<session>.txt`, out of the sending loop, for an
/// operator to look at.
public struct PortalManifests: Sendable {
    public static let folderName = "portal-manifests"

    /// `SPOOL/portal-manifests`.
    public let directory: URL
    private var failedDirectory: URL { directory.appendingPathComponent("failed") }

    public init(spoolDirectory: URL) throws {
        directory = spoolDirectory.appendingPathComponent(Self.folderName)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("failed"), withIntermediateDirectories: true)
    }

    public enum OutboxError: Error, CustomStringConvertible {
        case invalid(ManifestError)
        case write(path: String, reason: String)

        public var description: String {
            switch self {
            case .invalid(let error): "the manifest cannot be queued: \(error)"
            case .write(let path, let reason): "cannot write \(path): \(reason)"
            }
        }
    }

    /// Queues `manifest` for sending (replacing a pending one of the same session: the kiosk's latest word).
    /// Checked first with `validate()`, so nothing core would refuse as unreadable waits here.
    public func enqueue(_ manifest: KioskManifest) throws {
        do throws(ManifestError) { try manifest.validate() } catch { throw OutboxError.invalid(error) }
        try write(Array(try manifest.encoded()), to: try path(manifest.session))
    }

    /// Sessions whose manifest waits to be sent, oldest name first.
    public func pending() throws -> [String] {
        try sessions(in: directory, suffix: ".json")
    }

    /// The bytes queued for `session`.
    public func body(session: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: try path(session)))
    }

    /// Core stored it: forget it.
    public func remove(session: String) throws {
        let file = try path(session)
        guard unlink(file) == 0 || errno == ENOENT else {
            throw OutboxError.write(path: file, reason: String(cString: strerror(errno)))
        }
        try syncDirectory(directory.path)
    }

    /// Core refused it for good: keep it, with the portal's answer, out of the sending loop.
    public func markFailed(session: String, reason: String) throws {
        let file = try path(session)
        try write(Array(reason.utf8), to: failedDirectory.appendingPathComponent("\(session).txt").path)
        let target = failedDirectory.appendingPathComponent("\(session).json").path
        guard rename(file, target) == 0 else {
            throw OutboxError.write(path: target, reason: String(cString: strerror(errno)))
        }
        try syncDirectory(failedDirectory.path)
        try syncDirectory(directory.path)
    }

    /// Manifests core refused, with the portal's answer.
    public func failed() throws -> [(session: String, reason: String)] {
        try sessions(in: failedDirectory, suffix: ".json").map { session in
            let reason = (try? String(contentsOf: failedDirectory.appendingPathComponent("\(session).txt"), encoding: .utf8)) ?? ""
            return (session, reason)
        }
    }

    // MARK: files

    /// Session IDs are checked before they become file names (`KioskSessionID`: no slash, no leading dot).
    private func path(_ session: String) throws -> String {
        guard KioskSessionID.isValid(session) else { throw OutboxError.invalid(.unreadable("session ID is not 1-64 of A-Z a-z 0-9 - _ .")) }
        return directory.appendingPathComponent("\(session).json").path
    }

    private func sessions(in folder: URL, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }    // `.name.tmp` files are writes in progress
            .map { String($0.dropLast(suffix.count)) }
            .filter(KioskSessionID.isValid)
            .sorted()
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        do {
            // 0600: the manifest carries the session report, which names the patient.
            try DurableFile.writeAtomically(path: path, bytes: bytes, permissions: 0o600)
        } catch {
            throw OutboxError.write(path: error.path, reason: "\(error.step): \(error.errno)")
        }
    }

    private func syncDirectory(_ path: String) throws {
        do { try DurableFile.syncDirectory(path) } catch { throw OutboxError.write(path: path, reason: "fsync: \(error)") }
    }
}
