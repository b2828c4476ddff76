@testable import WebAuthn

/// A minimal CTAP2-canonical CBOR encoder for the tests' own authenticator data and COSE keys (shortest arguments,
/// entries in the given order).
enum CBOREncoding {
    static func encode(_ item: CBOR) -> [UInt8] {
        switch item {
        case let .unsigned(value): return head(0, value)
        case let .negative(argument): return head(1, argument)
        case let .bytes(bytes): return head(2, UInt64(bytes.count)) + bytes
        case let .text(text): return head(3, UInt64(text.utf8.count)) + Array(text.utf8)
        case let .array(elements): return head(4, UInt64(elements.count)) + elements.flatMap(encode)
        case let .map(entries): return head(5, UInt64(entries.count)) + entries.flatMap { encode($0.key) + encode($0.value) }
        case let .bool(value): return [value ? 0xF5 : 0xF4]
        case .null: return [0xF6]
        case .undefined: return [0xF7]
        }
    }

    static func map(_ entries: [(CBOR, CBOR)]) -> CBOR {
        .map(entries.map { CBOR.Entry(key: $0.0, value: $0.1) })
    }

    private static func head(_ major: UInt8, _ argument: UInt64) -> [UInt8] {
        let type = major << 5
        switch argument {
        case 0..<24: return [type | UInt8(argument)]
        case 24...0xFF: return [type | 24, UInt8(argument)]
        case 0x100...0xFFFF: return [type | 25] + bigEndian(argument, 2)
        case 0x1_0000...0xFFFF_FFFF: return [type | 26] + bigEndian(argument, 4)
        default: return [type | 27] + bigEndian(argument, 8)
        }
    }

    private static func bigEndian(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        let digits = Array(hex.utf8)
        self = stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) ?? 0 }
    }
}
