import Foundation

/// The generated tables, decoded from their base64 literals once, on first use.
enum CodeTables {
    static func u16(_ base64: String) -> [UInt16] {
        guard let data = Data(base64Encoded: base64) else { return [] }
        return data.withUnsafeBytes { raw in
            (0..<raw.count / 2).map { UInt16(raw[$0 * 2]) | UInt16(raw[$0 * 2 + 1]) << 8 }
        }
    }

    static func u32(_ base64: String) -> [UInt32] {
        guard let data = Data(base64Encoded: base64) else { return [] }
        return data.withUnsafeBytes { raw in
            (0..<raw.count / 4).map { i in (0..<4).reduce(UInt32(0)) { $0 | UInt32(raw[i * 4 + $1]) << (8 * UInt32($1)) } }
        }
    }

    static let latin1 = u16(CharacterSetTables.latin1)
    static let latin2 = u16(CharacterSetTables.latin2)
    static let latin3 = u16(CharacterSetTables.latin3)
    static let latin4 = u16(CharacterSetTables.latin4)
    static let cyrillic = u16(CharacterSetTables.cyrillic)
    static let arabic = u16(CharacterSetTables.arabic)
    static let greek = u16(CharacterSetTables.greek)
    static let hebrew = u16(CharacterSetTables.hebrew)
    static let latin5 = u16(CharacterSetTables.latin5)
    static let thai = u16(CharacterSetTables.thai)
    static let latin9 = u16(CharacterSetTables.latin9)
    static let jisX0208 = u16(CharacterSetTables.jisX0208)
    static let jisX0212 = u16(CharacterSetTables.jisX0212)
    static let ksX1001 = u16(CharacterSetTables.ksX1001)
    static let gb2312 = u16(CharacterSetTables.gb2312)
    static let gb18030TwoByte = u16(CharacterSetTables.gb18030TwoByte)
    static let gb18030FourByteRuns = u32(CharacterSetTables.gb18030FourByteRuns)
}
