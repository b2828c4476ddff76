import DICOMCore

/// One separately inspectable piece of a DICOM file (THREATS.md 1–5, 9): every part is checked
/// and scanned on its own, so a payload cannot hide behind the bulk of a whole-file scan.
public struct Part: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case preamble
        case fileMeta
        /// A public element's value (text, numbers, binary) outside the special parts below.
        case element
        /// A value in a private block (its group, element high byte), with the block's creator.
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
        /// Data Set Trailing Padding (FFFC,FFFC) or bytes after the data set or after the last frame.
        case trailing

        /// A short name for the per-part map.
        public var name: String {
            switch self {
            case .preamble: "preamble"
            case .fileMeta: "file meta"
            case .element: "element"
            case let .privateBlock(creator): "private block \"\(creator)\""
            case let .pixelFrame(index): "frame \(index + 1)"
            case .offsetTable: "offset table"
            case let .fragment(index): "fragment \(index + 1)"
            case .document: "document"
            case .overlay: "overlay"
            case .icon: "icon"
            case .waveform: "waveform"
            case .trailing: "trailing bytes"
            }
        }
    }

    public let kind: Kind
    /// Where the part lies: the element path, e.g. `(0088,0200)[0](7FE0,0010)`, plus the frame or
    /// fragment; `preamble`, `file meta` or `after the data set` for the parts outside it.
    public let location: String
    /// The bytes: in memory, or a range of the source for large values.
    public let bytes: ValueBytes
    public let tag: Tag?
    /// The element the part belongs to; nil for the preamble, the meta group and trailing bytes.
    public let path: ElementPath?

    public init(kind: Kind, location: String, bytes: ValueBytes, tag: Tag?, path: ElementPath?) {
        self.kind = kind; self.location = location; self.bytes = bytes; self.tag = tag; self.path = path
    }
}
