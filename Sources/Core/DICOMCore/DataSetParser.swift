/// The iterative data-set parser: an explicit stack of open items and sequences, so nesting depth
/// is a counted limit and never the machine stack (THREATS.md 7). Every length is compared with
/// what remains in its enclosing item and in the file before anything is read or allocated
/// (THREATS.md 6).
struct DataSetParser {
    struct Encoding: Equatable {
        var explicitVR: Bool
        var bigEndian: Bool
        static let implicitLittle = Encoding(explicitVR: false, bigEndian: false)
    }

    var cursor: ByteCursor
    let options: ParsingOptions
    let encapsulated: Bool
    var inlineLimit: Int
    var issues: [ParseIssue] = []
    private var elementCount = 0

    private final class DataSetFrame {
        var elements: [DataElement] = []
        let end: Int64?          // nil: undefined-length item, ends at an item delimiter
        let limit: Int64         // innermost defined end, for length checks
        let offset: Int64
        let encoding: Encoding
        let isRoot: Bool
        var lastTag: Tag?
        init(end: Int64?, limit: Int64, offset: Int64, encoding: Encoding, isRoot: Bool) {
            self.end = end; self.limit = limit; self.offset = offset; self.encoding = encoding; self.isRoot = isRoot
        }
    }

    private final class SequenceFrame {
        let tag: Tag, vr: VR, offset: Int64
        let end: Int64?          // nil: undefined length, ends at a sequence delimiter
        let limit: Int64
        let encoding: Encoding
        var items: [Item] = []
        init(tag: Tag, vr: VR, offset: Int64, end: Int64?, limit: Int64, encoding: Encoding) {
            self.tag = tag; self.vr = vr; self.offset = offset; self.end = end; self.limit = limit; self.encoding = encoding
        }
    }

    private enum Frame {
        case dataSet(DataSetFrame)
        case sequence(SequenceFrame)
    }

    init(cursor: ByteCursor, options: ParsingOptions, encapsulated: Bool) {
        self.cursor = cursor
        self.options = options
        self.encapsulated = encapsulated
        inlineLimit = options.inlineValueLimit
    }

    /// Parses a data set from the cursor's position to `end`. At the top level, bytes that cannot
    /// be the next element end the data set and are returned as trailing data (when allowed).
    mutating func parseRoot(end: Int64, encoding: Encoding) throws(DICOMParseError) -> (DataSet, Range<Int64>?) {
        let root = DataSetFrame(end: end, limit: end, offset: cursor.position, encoding: encoding, isRoot: true)
        var stack: [Frame] = [.dataSet(root)]
        var sequenceDepth = 0
        var trailing: Range<Int64>?

        parsing: while let top = stack.last {
            switch top {
            case let .sequence(sequence):
                if let end = sequence.end, cursor.position >= end {
                    try checkExact(end, what: "sequence", tag: sequence.tag)
                    stack.removeLast()
                    sequenceDepth -= 1
                    close(sequence, into: stack)
                    continue
                }
                let start = cursor.position
                let header = try cursor.take(8)
                let tag = Tag(header.u16(0, bigEndian: sequence.encoding.bigEndian), header.u16(2, bigEndian: sequence.encoding.bigEndian))
                let length = header.u32(4, bigEndian: sequence.encoding.bigEndian)
                switch tag {
                case Tag.item:
                    try count(at: start)
                    if length == 0xFFFF_FFFF {
                        stack.append(.dataSet(DataSetFrame(end: nil, limit: sequence.limit, offset: start,
                                                           encoding: sequence.encoding, isRoot: false)))
                    } else {
                        let itemEnd = cursor.position + Int64(length)
                        try checkLength(Int64(length), limit: sequence.limit, at: start, tag: sequence.tag)
                        stack.append(.dataSet(DataSetFrame(end: itemEnd, limit: itemEnd, offset: start,
                                                           encoding: sequence.encoding, isRoot: false)))
                    }
                case Tag.sequenceDelimitationItem where sequence.end == nil:
                    if length != 0 { issues.append(ParseIssue(.oddLength, at: start, tag: sequence.tag, "sequence delimiter with non-zero length \(length)")) }
                    stack.removeLast()
                    sequenceDepth -= 1
                    close(sequence, into: stack)
                default:
                    throw DICOMParseError(.badDelimiter, at: start, tag: sequence.tag, "expected an item in the sequence, found \(tag)")
                }

            case let .dataSet(frame):
                if let end = frame.end, cursor.position >= end {
                    try checkExact(end, what: "item", tag: nil)
                    stack.removeLast()
                    if frame.isRoot { break parsing }
                    finishItem(frame, into: stack)
                    continue
                }
                let start = cursor.position
                if cursor.remaining < 8 {
                    if frame.isRoot, options.allowTrailingData, cursor.position >= end - 7 {
                        trailing = start..<end
                        break parsing
                    }
                    throw DICOMParseError(.truncated, at: start, "file ends inside an element header")
                }
                let header = try cursor.peek(8)
                let big = frame.encoding.bigEndian
                let tag = Tag(header.u16(0, bigEndian: big), header.u16(2, bigEndian: big))

                if tag.group == 0xFFFE {
                    if tag == Tag.itemDelimitationItem && frame.end == nil {
                        _ = try cursor.take(8)
                        stack.removeLast()
                        finishItem(frame, into: stack)
                        continue
                    }
                    if frame.isRoot, options.allowTrailingData {
                        trailing = start..<end
                        break parsing
                    }
                    throw DICOMParseError(.badDelimiter, at: start, tag: tag, "unexpected delimiter \(tag) inside a data set")
                }

                // Explicit VR: tag, VR, then a 2-byte length, or 2 reserved bytes and a 4-byte length
                // for the long-length VRs. Implicit VR: tag and a 4-byte length; the VR comes from
                // the dictionary (unknown tags are UN).
                var vr: VR
                var length: UInt32
                var headerLength: Int
                if frame.encoding.explicitVR {
                    guard let explicit = VR(header[header.startIndex + 4], header[header.startIndex + 5]) else {
                        if frame.isRoot, options.allowTrailingData, !frame.elements.isEmpty {
                            trailing = start..<end
                            break parsing
                        }
                        throw DICOMParseError(.invalidVR, at: start + 4, tag: tag, "invalid VR bytes")
                    }
                    vr = explicit
                    if vr.usesLongLength {
                        let long = try cursor.peek(12)
                        length = long.u32(8, bigEndian: big)
                        headerLength = 12
                    } else {
                        length = UInt32(header.u16(6, bigEndian: big))
                        headerLength = 8
                    }
                } else {
                    length = header.u32(4, bigEndian: big)
                    headerLength = 8
                    vr = DataSetParser.implicitVR(for: tag, undefinedLength: length == 0xFFFF_FFFF)
                }
                if frame.isRoot, let last = frame.lastTag, tag <= last {
                    if options.allowTrailingData {
                        trailing = start..<end
                        break parsing
                    }
                    throw DICOMParseError(.badDelimiter, at: start, tag: tag, "element out of order after \(last)")
                }
                frame.lastTag = tag
                _ = try cursor.take(headerLength)
                try count(at: start)

                if length == 0xFFFF_FFFF {
                    // Encapsulated Pixel Data may also sit inside an item, at any depth (an Icon
                    // Image Sequence item of a compressed image, PS3.3 F.7): its fragments are one
                    // bounded loop, so nesting adds nothing to the stack.
                    if tag == Tag.pixelData && encapsulated && (frame.isRoot || vr == .OB || vr == .OW) {
                        frame.elements.append(try parseFragments(vr: vr, start: start, encoding: frame.encoding, limit: frame.limit))
                        continue
                    }
                    guard vr == .SQ || vr == .UN else {
                        throw DICOMParseError(.undefinedLength, at: start, tag: tag, "undefined length on a \(vr.rawValue) element")
                    }
                    guard sequenceDepth < options.maxDepth else {
                        throw DICOMParseError(.nestingTooDeep, at: start, tag: tag, "sequences nested deeper than \(options.maxDepth)")
                    }
                    // UN with undefined length holds implicit VR little endian items (PS3.5 §6.2.2).
                    var encoding = frame.encoding
                    if vr == .UN {
                        encoding = .implicitLittle
                        issues.append(ParseIssue(.implicitUN, at: start, tag: tag, "UN with undefined length read as an implicit VR sequence"))
                    }
                    stack.append(.sequence(SequenceFrame(tag: tag, vr: vr, offset: start, end: nil, limit: frame.limit, encoding: encoding)))
                    sequenceDepth += 1
                    continue
                }

                let size = Int64(length)
                try checkLength(size, limit: frame.limit, at: start, tag: tag)
                if size & 1 == 1 {
                    guard options.allowOddLengths else {
                        throw DICOMParseError(.oddLength, at: start, tag: tag, "odd value length \(size)")
                    }
                    issues.append(ParseIssue(.oddLength, at: start, tag: tag, "odd value length \(size)"))
                }
                if vr == .SQ {
                    guard sequenceDepth < options.maxDepth else {
                        throw DICOMParseError(.nestingTooDeep, at: start, tag: tag, "sequences nested deeper than \(options.maxDepth)")
                    }
                    let sequenceEnd = cursor.position + size
                    let sequence = SequenceFrame(tag: tag, vr: vr, offset: start, end: sequenceEnd, limit: sequenceEnd, encoding: frame.encoding)
                    if size == 0 {
                        frame.elements.append(DataElement(tag: tag, vr: .SQ, value: .sequence([]), offset: start))
                    } else {
                        stack.append(.sequence(sequence))
                        sequenceDepth += 1
                    }
                    continue
                }
                let value = try cursor.value(size, inlineLimit: inlineLimit)
                frame.elements.append(DataElement(tag: tag, vr: vr, value: .bytes(value), offset: start))
            }
        }
        return (DataSet(root.elements, issues: &issues), trailing)
    }

    /// Encapsulated Pixel Data (PS3.5 §A.4): items of raw bytes, the first the Basic Offset Table,
    /// ended by a sequence delimiter.
    private mutating func parseFragments(vr: VR, start: Int64, encoding: Encoding, limit: Int64) throws(DICOMParseError) -> DataElement {
        var fragments: [Fragment] = []
        while true {
            let itemStart = cursor.position
            let header = try cursor.take(8)
            let tag = Tag(header.u16(0, bigEndian: encoding.bigEndian), header.u16(2, bigEndian: encoding.bigEndian))
            let length = header.u32(4, bigEndian: encoding.bigEndian)
            if tag == Tag.sequenceDelimitationItem { break }
            guard tag == Tag.item else {
                throw DICOMParseError(.badDelimiter, at: itemStart, tag: Tag.pixelData, "expected a pixel data fragment, found \(tag)")
            }
            guard length != 0xFFFF_FFFF else {
                throw DICOMParseError(.undefinedLength, at: itemStart, tag: Tag.pixelData, "pixel data fragment with undefined length")
            }
            try count(at: itemStart)
            try checkLength(Int64(length), limit: limit, at: itemStart, tag: Tag.pixelData)
            fragments.append(Fragment(bytes: try cursor.value(Int64(length), inlineLimit: inlineLimit), offset: itemStart))
        }
        guard let offsetTable = fragments.first else {
            throw DICOMParseError(.badDelimiter, at: start, tag: Tag.pixelData, "encapsulated pixel data without a Basic Offset Table item")
        }
        return DataElement(tag: Tag.pixelData, vr: vr, value: .fragments(offsetTable: offsetTable, fragments: Array(fragments.dropFirst())),
                           offset: start, undefinedLength: true)
    }

    private func close(_ sequence: SequenceFrame, into stack: [Frame]) {
        guard case let .dataSet(parent)? = stack.last else { return }
        parent.elements.append(DataElement(tag: sequence.tag, vr: sequence.vr, value: .sequence(sequence.items),
                                           offset: sequence.offset, undefinedLength: sequence.end == nil))
    }

    private mutating func finishItem(_ frame: DataSetFrame, into stack: [Frame]) {
        guard case let .sequence(sequence)? = stack.last else { return }
        sequence.items.append(Item(dataSet: DataSet(frame.elements, issues: &issues), offset: frame.offset))
    }

    private mutating func count(at offset: Int64) throws(DICOMParseError) {
        elementCount += 1
        if elementCount > options.maxElements {
            throw DICOMParseError(.tooManyElements, at: offset, "more than \(options.maxElements) elements")
        }
    }

    private func checkLength(_ length: Int64, limit: Int64, at offset: Int64, tag: Tag) throws(DICOMParseError) {
        let remaining = limit - cursor.position
        if length > remaining {
            throw DICOMParseError(length > cursor.remaining ? .truncated : .lengthOverflow, at: offset, tag: tag,
                                  "value length \(length) exceeds the \(remaining) byte(s) remaining")
        }
        if length > options.maxElementLength {
            throw DICOMParseError(.lengthOverflow, at: offset, tag: tag, "value length \(length) exceeds the limit of \(options.maxElementLength)")
        }
    }

    private func checkExact(_ end: Int64, what: String, tag: Tag?) throws(DICOMParseError) {
        if cursor.position > end {
            throw DICOMParseError(.lengthOverflow, at: cursor.position, tag: tag, "\(what) content runs past its length")
        }
    }

    static func implicitVR(for tag: Tag, undefinedLength: Bool) -> VR {
        if tag == Tag.pixelData { return .OW }
        if tag.element == 0x0000 { return .UL }
        if tag.isPrivate && tag.element >= 0x0010 && tag.element <= 0x00FF { return .LO }  // private creator
        if let vr = DataDictionary.entry(for: tag)?.vr { return vr }
        return undefinedLength ? .SQ : .UN
    }
}

extension DataSet {
    /// Builds a data set from elements in file order, keeping the first of duplicate tags.
    init(_ elements: [DataElement], issues: inout [ParseIssue]) {
        var ordered = elements
        if !zip(ordered, ordered.dropFirst()).allSatisfy({ $0.tag < $1.tag }) {
            ordered.sort { $0.tag < $1.tag }
            var unique: [DataElement] = []
            for element in ordered {
                if let last = unique.last, last.tag == element.tag {
                    issues.append(ParseIssue(.duplicateTag, at: element.offset, tag: element.tag, "duplicate element dropped"))
                    continue
                }
                unique.append(element)
            }
            ordered = unique
        }
        self.init(sorted: ordered)
    }
}
