import DICOMCore

/// One separately inspectable piece of a DICOM file (THREATS.md 1–5, 9): every part is checked
/// and scanned on its own, so a payload cannot hide behind the bulk of a whole-file scan.
public struct Part: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case preamble
        case fileMeta
        /// A public element's value (text, numbers, binary) outside the special parts below.
        case element
        /// The values of one private block: group, block (element high byte) and its creator.
        case privateBlock(creator: String)
        /// Native Pixel Data, one frame each.
        case pixelFrame(index: Int)
        /// Encapsulated Pixel Data: the Basic Offset Table and each fragment.
        case offsetTable
        case fragment(index: Int)
        /// Encapsulated Document (0042,0011).
        case document
        /// Overlay Data (60xx,3000).
        case overlay
        /// Icon Image Sequence (0088,0200) pixel data.
        case icon
        /// Waveform Data (5400,1010).
        case waveform
        /// Data Set Trailing Padding (FFFC,FFFC) or bytes after the data set.
        case trailing
    }

    public let kind: Kind
    /// Where the part lies: the element path, e.g. `(0088,0200)[0](7FE0,0010)`; empty for the preamble.
    public let location: String
    /// The bytes: in memory, or a range of the source for large values.
    public let bytes: ValueBytes
    public let tag: Tag?
}
