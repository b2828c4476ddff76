import Credentials
import Crypto
import Foundation
import POSIX
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The operators who may run imports (`STATE/operators/operators.sqlite`). A sign-in takes the
/// operator's name (typed or scanned from a badge), a PIN and a TOTP code.
///
/// At rest: PINs as scrypt hashes (`PasswordHash`: random salt, memory-hard), TOTP secrets sealed with
/// AES-GCM under a key in `operators.key` (0600, created once). Neither is ever logged.
/// Repeated failures lock the operator; a TOTP code is good once.
public final class OperatorStore: Sendable {
    public struct Settings: Sendable {
        public var maxFailures = 5
        /// First lockout; each further failure doubles it, up to `maximumLockout`.
        public var lockout: Double = 300
        public var maximumLockout: Double = 3600
        /// scrypt N (r = 8, p = 1): 2^15 takes 32 MiB and about 0.1 s per check.
        public var scryptCost = PasswordHash.defaultCost
        public var issuer = "kiosk-agent"
        public init() {}
    }

    public struct Operator: Sendable, Equatable {
        public let name: String
        public let createdAt: Date
        public let lastSignInAt: Date?
        public let failures: Int
        public let lockedUntil: Date?
    }

    public enum SignIn: Sendable, Equatable {
        case signedIn(String)
        /// Wrong name, PIN or code (which one is not said).
        case denied
        case locked(until: Date)
    }

    public enum StoreError: Error, Equatable, CustomStringConvertible {
        case exists(String)
        case unknown(String)
        case weakPIN(String)
        case badName
        case keyUnavailable(String)

        public var description: String {
            switch self {
            case let .exists(name): "operator \(name) already exists"
            case let .unknown(name): "no operator \(name)"
            case let .weakPIN(why): "PIN refused: \(why)"
            case .badName: "operator names are 1-64 printable characters"
            case let .keyUnavailable(why): "the operator key cannot be used: \(why)"
            }
        }
    }

    private let database: DatabaseQueue
    private let keyPath: URL
    public let settings: Settings

    public init(directory: URL, settings: Settings = Settings()) throws {
        self.settings = settings
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        keyPath = directory.appendingPathComponent("operators.key")
        database = try DatabaseQueue(path: directory.appendingPathComponent("operators.sqlite").path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "operator") { t in
                t.primaryKey("name", .text)
                t.column("pinHash", .text).notNull()
                t.column("totpSealed", .blob).notNull()
                t.column("createdAt", .double).notNull()
                t.column("lastSignInAt", .double)
                t.column("failures", .integer).notNull().defaults(to: 0)
                t.column("lockedUntil", .double)
                t.column("lastStep", .integer)
            }
        }
        try migrator.migrate(database)
        chmod(directory.appendingPathComponent("operators.sqlite").path, 0o600)
    }

    // MARK: provisioning

    /// Adds an operator; returns the TOTP to enrol in an authenticator app (shown once, never stored in clear).
    public func add(_ name: String, pin: String, now: Date = Date()) throws -> TOTP {
        guard OperatorStore.isValidName(name) else { throw StoreError.badName }
        try OperatorStore.checkPIN(pin)
        let totp = TOTP.generate()
        let sealed = try AES.GCM.seal(totp.secret, using: try key(creating: true)).combined!
        let hash = try PasswordHash.make(pin, cost: settings.scryptCost)
        try database.write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM operator WHERE name = ?", arguments: [name]) == nil else {
                throw StoreError.exists(name)
            }
            try db.execute(sql: "INSERT INTO operator (name, pinHash, totpSealed, createdAt) VALUES (?, ?, ?, ?)",
                           arguments: [name, hash, sealed, now.timeIntervalSince1970])
        }
        return totp
    }

    public func remove(_ name: String) throws {
        try database.write { db in
            try db.execute(sql: "DELETE FROM operator WHERE name = ?", arguments: [name])
            if db.changesCount == 0 { throw StoreError.unknown(name) }
        }
    }

    /// Clears failures and a lockout (IT, after checking with the operator).
    public func unlock(_ name: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE operator SET failures = 0, lockedUntil = NULL WHERE name = ?", arguments: [name])
            if db.changesCount == 0 { throw StoreError.unknown(name) }
        }
    }

    public func list() throws -> [Operator] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT name, createdAt, lastSignInAt, failures, lockedUntil FROM operator ORDER BY name").map { row in
                Operator(name: row["name"], createdAt: Date(timeIntervalSince1970: row["createdAt"]),
                         lastSignInAt: (row["lastSignInAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
                         failures: row["failures"], lockedUntil: (row["lockedUntil"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    // MARK: signing in

    public func signIn(_ name: String, pin: String, code: String, now: Date = Date()) throws -> SignIn {
        let row = try database.read { db in
            try Row.fetchOne(db, sql: "SELECT pinHash, totpSealed, failures, lockedUntil, lastStep FROM operator WHERE name = ?",
                             arguments: [name])
        }
        guard let row else {
            // Same work as a real check, so an unknown name does not answer faster.
            _ = PasswordHash.verify(pin, against: nil, decoyCost: settings.scryptCost)
            return .denied
        }
        if let until = row["lockedUntil"] as Double?, until > now.timeIntervalSince1970 {
            return .locked(until: Date(timeIntervalSince1970: until))
        }
        let pinOK = PasswordHash.verify(pin, against: row["pinHash"] as String)
        var step: UInt64?
        if pinOK {
            let secret = try AES.GCM.open(AES.GCM.SealedBox(combined: row["totpSealed"] as Data), using: try key(creating: false))
            step = TOTP(secret: Array(secret)).verify(code, at: now)
            if let used = row["lastStep"] as Int64?, let found = step, Int64(found) <= used { step = nil }   // replayed code
        }
        let failures: Int = row["failures"]
        if let step {
            try database.write { db in
                try db.execute(sql: "UPDATE operator SET failures = 0, lockedUntil = NULL, lastStep = ?, lastSignInAt = ? WHERE name = ?",
                               arguments: [Int64(step), now.timeIntervalSince1970, name])
            }
            return .signedIn(name)
        }
        let count = failures + 1
        var lockedUntil: Double?
        if count >= settings.maxFailures {
            let duration = min(settings.maximumLockout, settings.lockout * pow(2, Double(count - settings.maxFailures)))
            lockedUntil = now.timeIntervalSince1970 + duration
        }
        try database.write { db in
            try db.execute(sql: "UPDATE operator SET failures = ?, lockedUntil = ? WHERE name = ?", arguments: [count, lockedUntil, name])
        }
        return lockedUntil.map { .locked(until: Date(timeIntervalSince1970: $0)) } ?? .denied
    }

    // MARK: rules and keys

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.unicodeScalars.allSatisfy { !CharacterSet.controlCharacters.contains($0) }
            && name.trimmingCharacters(in: .whitespaces) == name
    }

    /// 6–12 digits (a touch keypad), not one repeated digit, not a straight run like 123456.
    static func checkPIN(_ pin: String) throws {
        let digits = pin.compactMap(\.wholeNumberValue)
        guard digits.count == pin.count, pin.allSatisfy(\.isASCII), (6...12).contains(digits.count) else {
            throw StoreError.weakPIN("6 to 12 digits")
        }
        let steps = Set(zip(digits, digits.dropFirst()).map { $1 - $0 })
        if steps == [0] || steps == [1] || steps == [-1] { throw StoreError.weakPIN("too easy to guess") }
    }

    private func key(creating: Bool) throws -> SymmetricKey {
        if let data = FileManager.default.contents(atPath: keyPath.path) {
            guard data.count == 32 else { throw StoreError.keyUnavailable("\(keyPath.path) is not a 256-bit key") }
            return SymmetricKey(data: data)
        }
        guard creating else { throw StoreError.keyUnavailable("\(keyPath.path) is missing") }
        let key = SymmetricKey(size: .bits256)
        let file: Descriptor
        do { file = try Descriptor.open(keyPath.path, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o600) } catch {
            throw StoreError.keyUnavailable("cannot create \(keyPath.path): \(error)")
        }
        do { try key.withUnsafeBytes { bytes in try file.writeAll(bytes) } } catch {
            throw StoreError.keyUnavailable("cannot write \(keyPath.path): \(error)")
        }
        guard fsync(file.rawValue) == 0 else { throw StoreError.keyUnavailable("cannot write \(keyPath.path)") }
        return key
    }
}
