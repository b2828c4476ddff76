import Crypto

/// An upload's name: 128 random bits in lower-case hex. Parsing accepts only that shape, so an id can be used as a
/// file name and never names anything outside the store.
public struct UploadID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard rawValue.utf8.count == 32,
              rawValue.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.rawValue = rawValue
    }

    public static func random() -> UploadID {
        let bytes = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        return UploadID(bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined())!
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = UploadID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an upload id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
