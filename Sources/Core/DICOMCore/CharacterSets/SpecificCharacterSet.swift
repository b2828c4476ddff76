/// Decodes text values by (0008,0005) Specific Character Set (PS3.5 §6.1, PS3.3 C.12.1.1.2):
/// single-byte sets, UTF-8, GB18030/GBK, and ISO 2022 code extensions with escape sequences.
public struct SpecificCharacterSet: Sendable, Equatable {
    /// A graphic set that can be designated to G0 (bytes 0x21–0x7E) or G1 (0xA1–0xFE).
    enum CodeElement: Sendable, Equatable {
        case ascii, jisRoman, jisKatakana
        case upperHalf(Table)
        case jisX0208, jisX0212, ksX1001, gb2312

        var isDoubleByte: Bool {
            switch self {
            case .jisX0208, .jisX0212, .ksX1001, .gb2312: true
            default: false
            }
        }
    }

    enum Table: Sendable, Equatable {
        case latin1, latin2, latin3, latin4, cyrillic, arabic, greek, hebrew, latin5, thai, latin9

        var values: [UInt16] {
            switch self {
            case .latin1: CodeTables.latin1
            case .latin2: CodeTables.latin2
            case .latin3: CodeTables.latin3
            case .latin4: CodeTables.latin4
            case .cyrillic: CodeTables.cyrillic
            case .arabic: CodeTables.arabic
            case .greek: CodeTables.greek
            case .hebrew: CodeTables.hebrew
            case .latin5: CodeTables.latin5
            case .thai: CodeTables.thai
            case .latin9: CodeTables.latin9
            }
        }
    }

    enum Mode: Sendable, Equatable { case iso2022, utf8, gb18030 }

    /// The (0008,0005) values as given.
    public let terms: [String]
    /// Terms this decoder does not know (decoded as Latin-1 instead).
    public let unknownTerms: [String]
    let mode: Mode
    let initialG0: CodeElement
    let initialG1: CodeElement?

    public static let `default` = SpecificCharacterSet([])

    public init(_ values: [String]) {
        terms = values
        var unknown: [String] = []
        let first = values.first?.trimmingCharacters(in: " ") ?? ""
        switch first {
        case "ISO_IR 192":
            mode = .utf8; initialG0 = .ascii; initialG1 = nil
        case "GB18030", "GBK":
            mode = .gb18030; initialG0 = .ascii; initialG1 = nil
        default:
            mode = .iso2022
            if let designation = SpecificCharacterSet.designations[first] {
                initialG0 = designation.g0 ?? .ascii
                initialG1 = designation.g1
            } else {
                unknown.append(first)
                initialG0 = .ascii
                initialG1 = .upperHalf(.latin1)
            }
        }
        for term in values.dropFirst() {
            let name = term.trimmingCharacters(in: " ")
            if !name.isEmpty && SpecificCharacterSet.designations[name] == nil && name != "ISO_IR 192" && name != "GB18030" {
                unknown.append(name)
            }
        }
        unknownTerms = unknown
    }

    /// The code elements each defined term designates initially.
    static let designations: [String: (g0: CodeElement?, g1: CodeElement?)] = {
        var map: [String: (CodeElement?, CodeElement?)] = ["": (.ascii, nil), "ISO_IR 6": (.ascii, nil), "ISO 2022 IR 6": (.ascii, nil)]
        let upper: [(String, Table)] = [("100", .latin1), ("101", .latin2), ("109", .latin3), ("110", .latin4), ("144", .cyrillic),
                                        ("127", .arabic), ("126", .greek), ("138", .hebrew), ("148", .latin5), ("166", .thai), ("203", .latin9)]
        for (number, table) in upper {
            map["ISO_IR \(number)"] = (.ascii, .upperHalf(table))
            map["ISO 2022 IR \(number)"] = (.ascii, .upperHalf(table))
        }
        map["ISO_IR 13"] = (.jisRoman, .jisKatakana)
        map["ISO 2022 IR 13"] = (.jisRoman, .jisKatakana)
        map["ISO 2022 IR 87"] = (.ascii, nil)
        map["ISO 2022 IR 159"] = (.ascii, nil)
        map["ISO 2022 IR 149"] = (.ascii, nil)
        map["ISO 2022 IR 58"] = (.ascii, nil)
        return map
    }()

    /// Escape sequences (ESC + intermediate bytes + final byte) and what they designate.
    static let escapes: [[UInt8]: (g0: Bool, element: CodeElement)] = [
        [0x28, 0x42]: (true, .ascii),             // ESC ( B   ISO 646 / IR 6
        [0x28, 0x4A]: (true, .jisRoman),          // ESC ( J   JIS X 0201 Romaji / IR 14
        [0x29, 0x49]: (false, .jisKatakana),      // ESC ) I   JIS X 0201 Katakana / IR 13
        [0x24, 0x42]: (true, .jisX0208),          // ESC $ B   JIS X 0208 / IR 87
        [0x24, 0x28, 0x44]: (true, .jisX0212),    // ESC $ ( D JIS X 0212 / IR 159
        [0x24, 0x29, 0x43]: (false, .ksX1001),    // ESC $ ) C KS X 1001 / IR 149
        [0x24, 0x29, 0x41]: (false, .gb2312),     // ESC $ ) A GB 2312 / IR 58
        [0x2D, 0x41]: (false, .upperHalf(.latin1)), [0x2D, 0x42]: (false, .upperHalf(.latin2)),
        [0x2D, 0x43]: (false, .upperHalf(.latin3)), [0x2D, 0x44]: (false, .upperHalf(.latin4)),
        [0x2D, 0x4C]: (false, .upperHalf(.cyrillic)), [0x2D, 0x47]: (false, .upperHalf(.arabic)),
        [0x2D, 0x46]: (false, .upperHalf(.greek)), [0x2D, 0x48]: (false, .upperHalf(.hebrew)),
        [0x2D, 0x4D]: (false, .upperHalf(.latin5)), [0x2D, 0x54]: (false, .upperHalf(.thai)),
        [0x2D, 0x62]: (false, .upperHalf(.latin9)),
    ]

    /// Decodes a text value. Trailing padding (spaces, NULs) is removed; leading spaces are kept
    /// for text VRs where they are significant (LT, ST, UT) and removed otherwise.
    public func decode(_ bytes: [UInt8], vr: String) -> String {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x00) { end -= 1 }
        let value = bytes[0..<end]
        let text: String
        switch mode {
        case .utf8: text = String(decoding: value, as: UTF8.self)
        case .gb18030: text = GB18030.decode(value)
        case .iso2022: text = decode2022(value, vr: vr)
        }
        if ["LT", "ST", "UT"].contains(vr) { return text }
        return String(text.drop { $0 == " " })
    }

    private func decode2022(_ bytes: ArraySlice<UInt8>, vr: String) -> String {
        var g0 = initialG0, g1 = initialG1
        var scalars = String.UnicodeScalarView()
        // Delimiters after which the initial designations are active again (§6.1.2.5.3).
        let resets: Set<UInt8> = vr == "PN" ? [0x0A, 0x0C, 0x0D, 0x09, 0x5C, 0x3D, 0x5E] : [0x0A, 0x0C, 0x0D, 0x09, 0x5C]
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            if byte == 0x1B {
                var matched = false
                for length in [2, 3] where i + length < bytes.endIndex {
                    if let escape = SpecificCharacterSet.escapes[Array(bytes[i + 1...i + length])] {
                        if escape.g0 { g0 = escape.element } else { g1 = escape.element }
                        i += length + 1
                        matched = true
                        break
                    }
                }
                if !matched { scalars.append("\u{FFFD}"); i += 1 }
                continue
            }
            if byte < 0x80 {
                if g0.isDoubleByte && byte >= 0x21 && byte <= 0x7E {
                    guard i + 1 < bytes.endIndex else { scalars.append("\u{FFFD}"); break }
                    scalars.append(SpecificCharacterSet.double(g0, byte, bytes[i + 1]))
                    i += 2
                    continue
                }
                if resets.contains(byte) && !g0.isDoubleByte {
                    g0 = initialG0; g1 = initialG1
                }
                scalars.append(SpecificCharacterSet.single(g0, byte))
                i += 1
                continue
            }
            switch g1 {
            case let .some(element) where element.isDoubleByte:
                guard i + 1 < bytes.endIndex else { scalars.append("\u{FFFD}"); i += 1; continue }
                scalars.append(SpecificCharacterSet.double(element, byte & 0x7F, bytes[i + 1] & 0x7F))
                i += 2
            case .some(.jisKatakana):
                scalars.append(byte >= 0xA1 && byte <= 0xDF ? Unicode.Scalar(UInt32(byte) - 0xA1 + 0xFF61)! : "\u{FFFD}")
                i += 1
            case let .some(.upperHalf(table)):
                let value = table.values[Int(byte) - 0x80]
                scalars.append(value == 0 ? "\u{FFFD}" : Unicode.Scalar(value) ?? "\u{FFFD}")
                i += 1
            default:
                // No G1 designated: the default repertoire has no upper half; read as Latin-1.
                scalars.append(Unicode.Scalar(byte))
                i += 1
            }
        }
        return String(scalars)
    }

    private static func single(_ g0: CodeElement, _ byte: UInt8) -> Unicode.Scalar {
        if g0 == .jisRoman {
            if byte == 0x5C { return "\u{00A5}" }
            if byte == 0x7E { return "\u{203E}" }
        }
        return Unicode.Scalar(byte)
    }

    private static func double(_ element: CodeElement, _ first: UInt8, _ second: UInt8) -> Unicode.Scalar {
        guard (0x21...0x7E).contains(first), (0x21...0x7E).contains(second) else { return "\u{FFFD}" }
        let table: [UInt16] = switch element {
        case .jisX0208: CodeTables.jisX0208
        case .jisX0212: CodeTables.jisX0212
        case .ksX1001: CodeTables.ksX1001
        default: CodeTables.gb2312
        }
        let index = (Int(first) - 0x21) * 94 + Int(second) - 0x21
        guard index < table.count, table[index] != 0 else { return "\u{FFFD}" }
        return Unicode.Scalar(table[index]) ?? "\u{FFFD}"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

/// GB18030 (and its GBK subset): 1, 2 or 4 bytes per character.
enum GB18030 {
    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b1 = bytes[i]
            if b1 < 0x80 { scalars.append(Unicode.Scalar(b1)); i += 1; continue }
            guard b1 >= 0x81, b1 <= 0xFE, i + 1 < bytes.endIndex else { scalars.append("\u{FFFD}"); i += 1; continue }
            let b2 = bytes[i + 1]
            if b2 >= 0x30 && b2 <= 0x39 {
                guard i + 3 < bytes.endIndex else { scalars.append("\u{FFFD}"); break }
                let b3 = bytes[i + 2], b4 = bytes[i + 3]
                guard (0x81...0xFE).contains(b3), (0x30...0x39).contains(b4) else { scalars.append("\u{FFFD}"); i += 1; continue }
                let index = ((Int(b1) - 0x81) * 10 + Int(b2) - 0x30) * 1260 + (Int(b3) - 0x81) * 10 + Int(b4) - 0x30
                scalars.append(fourByte(index))
                i += 4
                continue
            }
            let trail = b2 >= 0x40 && b2 <= 0x7E ? Int(b2) - 0x40 : b2 >= 0x80 && b2 <= 0xFE ? Int(b2) - 0x41 : -1
            guard trail >= 0 else { scalars.append("\u{FFFD}"); i += 1; continue }
            let value = CodeTables.gb18030TwoByte[(Int(b1) - 0x81) * 190 + trail]
            scalars.append(value == 0 ? "\u{FFFD}" : Unicode.Scalar(value) ?? "\u{FFFD}")
            i += 2
        }
        return String(scalars)
    }

    /// Four-byte codes: BMP through the generated runs, supplementary planes algorithmically
    /// (0x90308130 = U+10000).
    static func fourByte(_ index: Int) -> Unicode.Scalar {
        if index >= 189_000 {
            return Unicode.Scalar(UInt32(0x10000 + index - 189_000)) ?? "\u{FFFD}"
        }
        let runs = CodeTables.gb18030FourByteRuns
        var low = 0, high = runs.count / 2 - 1, found = -1
        while low <= high {
            let mid = (low + high) / 2
            if Int(runs[mid * 2]) <= index { found = mid; low = mid + 1 } else { high = mid - 1 }
        }
        guard found >= 0 else { return "\u{FFFD}" }
        let next = found + 1 < runs.count / 2 ? Int(runs[(found + 1) * 2]) : 39420
        guard index < next else { return "\u{FFFD}" }
        return Unicode.Scalar(runs[found * 2 + 1] + UInt32(index - Int(runs[found * 2]))) ?? "\u{FFFD}"
    }
}
