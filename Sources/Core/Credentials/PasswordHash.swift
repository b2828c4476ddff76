import Crypto
import Foundation
import _CryptoExtras

/// Passwords and PINs at rest: scrypt (memory-hard, so guessing needs memory as well as time) with a
/// random 128-bit salt, kept as `scrypt$N$r$p$SALT$HASH` (salt and 32-byte hash in padded base64).
/// The kiosk's operator databases hold PINs in exactly this format; it must not change.
///
/// The password is normalised first (`PasswordPolicy.normalized`, NFKC), so the same password typed
/// on another keyboard or composed differently still matches. PINs are ASCII digits, which NFKC
/// leaves alone: their stored hashes stay valid.
public enum PasswordHash {
    /// scrypt N with r = 8, p = 1: 2^15 takes 32 MiB and about 0.1 s per check.
    public static let defaultCost = 1 << 15
    /// What `verify` accepts from a stored hash: below, too cheap to guess against; above, 1 GiB per check.
    public static let costs = (1 << 10)...(1 << 20)

    public enum HashError: Error, CustomStringConvertible {
        case unusableCost(Int)
        case derivation(String)

        public var description: String {
            switch self {
            case let .unusableCost(cost): "scrypt cost \(cost) cannot be used: it must be a power of two from 2^10 to 2^20"
            case let .derivation(why): "scrypt failed: \(why)"
            }
        }
    }

    /// A new stored hash of `password`, with a fresh salt.
    public static func make(_ password: String, cost: Int = defaultCost) throws -> String {
        guard costs.contains(cost), cost.nonzeroBitCount == 1 else { throw HashError.unusableCost(cost) }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let hash: [UInt8]
        do { hash = try derive(password, salt: salt, cost: cost) } catch { throw HashError.derivation("\(error)") }
        return "scrypt$\(cost)$8$1$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// Whether `password` is the one `stored` was made from. A stored string that is not a hash in
    /// this format (or asks for a cost outside `costs`) matches nothing.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let cost = Int(parts[1]), costs.contains(cost),
              parts[2] == "8", parts[3] == "1",
              let salt = Data(base64Encoded: String(parts[4])), let expected = Data(base64Encoded: String(parts[5])),
              let actual = try? derive(password, salt: Array(salt), cost: cost) else { return false }
        return constantTimeEqual(actual, Array(expected))
    }

    /// For a sign-in whose account may not exist (`stored` nil): then checks `password` against
    /// `decoy(cost: decoyCost)`, which takes as long as a real check at that cost and never matches, so
    /// an unknown name does not answer faster. Pass the cost new hashes are made with.
    public static func verify(_ password: String, against stored: String?, decoyCost: Int) -> Bool {
        guard let stored else {
            _ = verify(password, against: decoy(cost: decoyCost))
            return false
        }
        return verify(password, against: stored)
    }

    /// A well-formed hash no password matches (its hash bytes are all zero, which scrypt does not
    /// output but with probability 2^-256).
    public static func decoy(cost: Int = defaultCost) -> String {
        "scrypt$\(cost)$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    }

    private static func derive(_ password: String, salt: [UInt8], cost: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(from: Array(PasswordPolicy.normalized(password).utf8), salt: salt,
                                           outputByteCount: 32, rounds: cost, blockSize: 8, parallelism: 1)
        return key.withUnsafeBytes { Array($0) }
    }
}
