/// A kiosk's name: its certificate's CN and its key in the portal's registry.
public struct KioskName: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    /// 1–64 characters of `[A-Za-z0-9._-]`: nothing to escape in a CN, a database key or a log line.
    public init(_ value: String) throws(PKIError) {
        let allowed = value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
        guard allowed, (1...64).contains(value.utf8.count) else { throw .invalidKioskName(value) }
        self.value = value
    }

    public var description: String { value }
}
