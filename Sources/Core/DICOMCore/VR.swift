/// Value Representations (PS3.5 §6.2).
public enum VR: String, Sendable, CaseIterable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// Explicit VR: OB OD OF OL OV OW SQ SV UC UN UR UT UV have 2 reserved bytes and a 4-byte
    /// length; every other VR a 2-byte length (PS3.5 §7.1.2).
    public var usesLongLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: true
        default: false
        }
    }

    /// Text VRs are padded with a space to even length; UI and binary VRs with NUL (PS3.5 §6.2).
    public var paddingByte: UInt8 {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UR, .UT: 0x20
        default: 0x00
        }
    }

    /// VRs whose text is affected by Specific Character Set (PS3.5 §6.1.2.3).
    public var isCharacterSetSensitive: Bool {
        switch self {
        case .LO, .LT, .PN, .SH, .ST, .UC, .UT: true
        default: false
        }
    }

    /// The two ASCII bytes of an explicit VR header, if they name a VR.
    init?(_ first: UInt8, _ second: UInt8) {
        guard first >= 0x41, first <= 0x5A, second >= 0x41, second <= 0x5A else { return nil }
        self.init(rawValue: String(decoding: [first, second], as: UTF8.self))
    }

    var headerBytes: (UInt8, UInt8) {
        let utf8 = Array(rawValue.utf8)
        return (utf8[0], utf8[1])
    }
}
