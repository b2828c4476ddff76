/// A DICOM attribute tag (group, element). Each dictionary keyword has a constant (`Tag.patientID`),
/// generated in Dictionary/TagKeywords+Generated.swift.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) { self.group = group; self.element = element }

    public var rawValue: UInt32 { UInt32(group) << 16 | UInt32(element) }
    /// Private tags have an odd group number (PS3.5 §7.8).
    public var isPrivate: Bool { group & 1 == 1 }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `(gggg,eeee)` in upper-case hex, as DICOM documents and our reports write it.
    public var description: String {
        "(" + Tag.hex(group) + "," + Tag.hex(element) + ")"
    }

    private static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
