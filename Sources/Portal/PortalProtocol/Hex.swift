import Foundation

/// Digests and keys as lower-case hex text, the way the portal stores, logs and sends them (core, workers, the edge).
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Hex digits (either case) to bytes; nil for an odd count or a non-hex character.
    public static func decode(_ text: some StringProtocol) -> Data? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var data = Data(capacity: text.utf8.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }
}
