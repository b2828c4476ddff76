import Crypto
import Foundation
import POSIX

/// A service's key for secrets at rest (TOTP secrets, staging keys, WebAuthn user handles): a 32-byte file (0600)
/// under its state directory, made once, so a copy of the database alone opens none of them. The edge keeps
/// `edge.key`, the console `console.key`.
public struct SealingKey: Sendable {
    /// The raw bytes, not Crypto's SymmetricKey, so the key can cross concurrency domains; the key is made where used.
    let bytes: Data
    let name: Name
    /// The key file's name, for the error that says a secret does not open with it.
    let file: String

    /// How errors name the key and what losing it would break, for the operator who has to restore it.
    public struct Name: Sendable, Equatable {
        public let owner: String
        public let losing: String

        /// `owner` as in "the edge's sealing key"; `losing` as in "every sealed secret unreadable".
        public init(owner: String, losing: String) { self.owner = owner; self.losing = losing }
    }

    /// The key at `url`; made (with its directory, 0700) when absent. A short or unreadable key is an error rather
    /// than a new key, since a new key would make every sealed secret unreadable.
    public static func loadOrCreate(at url: URL, name: Name) throws -> SealingKey {
        if FileManager.default.fileExists(atPath: url.path) {
            let bytes = try Data(contentsOf: url)
            guard bytes.count == 32 else { throw SealingKeyError.badKeyFile(name, url.path, bytes.count) }
            return SealingKey(bytes: bytes, name: name, file: url.lastPathComponent)
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        do {
            // Not replacing: two processes starting at once on one state directory keep the same key.
            try DurableFile.writeAtomically(path: url.path, bytes: key, permissions: 0o600, replacing: false)
        } catch where error.errno == .fileExists {
            return try loadOrCreate(at: url, name: name)
        } catch {
            throw SealingKeyError.cannotWrite(name, "\(url.path): \(error.errno)")
        }
        return SealingKey(bytes: Data(key), name: name, file: url.lastPathComponent)
    }

    public var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }

    public func seal(_ plaintext: [UInt8]) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: symmetricKey).combined else { throw SealingKeyError.sealing }
        return combined
    }

    public func open(_ sealed: Data) throws -> [UInt8] {
        do { return Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: symmetricKey)) } catch {
            throw SealingKeyError.unsealable(name, file)
        }
    }

    /// An opaque, stable 16-byte value for `label` (a WebAuthn user handle: no name, not the row id).
    public func derive(_ label: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(label.utf8), using: symmetricKey).prefix(16))
    }
}

public enum SealingKeyError: Error, Equatable, CustomStringConvertible {
    case badKeyFile(SealingKey.Name, String, Int)
    case cannotWrite(SealingKey.Name, String)
    case sealing
    case unsealable(SealingKey.Name, String)

    public var description: String {
        switch self {
        case .badKeyFile(let name, let path, let count):
            "\(name.owner) \(path) holds \(count) bytes, not 32: restore it from backup (a new key would make \(name.losing))"
        case .cannotWrite(let name, let path): "cannot write \(name.owner) \(path)"
        case .sealing: "sealing a secret failed"
        case .unsealable(let name, let file): "a sealed secret does not open with \(name.owner) (\(file) was replaced?)"
        }
    }
}
