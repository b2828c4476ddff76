import Crypto
import Foundation
import POSIX

/// The console's key for secrets at rest (members' TOTP secrets, the WebAuthn user handles derived from member ids):
/// `console.key` (32 bytes, 0600) under the console's state directory, made once, as the edge keeps `edge.key`. A
/// copy of the database alone opens no TOTP secret.
public struct StaffSecretKey: Sendable {
    let bytes: Data

    /// The key at `url`; made when absent. A short or unreadable key is an error rather than a new key, since a new
    /// key would make every sealed secret unreadable.
    public static func loadOrCreate(at url: URL) throws -> StaffSecretKey {
        if FileManager.default.fileExists(atPath: url.path) {
            let bytes = try Data(contentsOf: url)
            guard bytes.count == 32 else { throw StaffSecretError.badKeyFile(url.path, bytes.count) }
            return StaffSecretKey(bytes: bytes)
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        do {
            // Not replacing: two processes starting at once on one state directory keep the same key.
            try DurableFile.writeAtomically(path: url.path, bytes: key, permissions: 0o600, replacing: false)
        } catch where error.errno == .fileExists {
            return try loadOrCreate(at: url)
        } catch {
            throw StaffSecretError.cannotWrite("\(url.path): \(error.errno)")
        }
        return StaffSecretKey(bytes: Data(key))
    }

    public func seal(_ plaintext: [UInt8]) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: SymmetricKey(data: bytes)).combined else { throw StaffSecretError.sealing }
        return combined
    }

    public func open(_ sealed: Data) throws -> [UInt8] {
        do { return Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: SymmetricKey(data: bytes))) } catch {
            throw StaffSecretError.unsealable
        }
    }

    /// An opaque, stable 16-byte value for `label` (the WebAuthn user handle of a member: no name, not the row id).
    public func derive(_ label: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(label.utf8), using: SymmetricKey(data: bytes)).prefix(16))
    }
}

public enum StaffSecretError: Error, Equatable, CustomStringConvertible {
    case badKeyFile(String, Int)
    case cannotWrite(String)
    case sealing
    case unsealable

    public var description: String {
        switch self {
        case .badKeyFile(let path, let count):
            "the console's key \(path) holds \(count) bytes, not 32: restore it from backup (a new key would make every member's authenticator app unusable)"
        case .cannotWrite(let path): "cannot write the console's key \(path)"
        case .sealing: "sealing a secret failed"
        case .unsealable: "a sealed secret does not open with the console's key (console.key was replaced?)"
        }
    }
}
