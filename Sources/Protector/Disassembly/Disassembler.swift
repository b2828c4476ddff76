import DICOMCore

/// Splits a parsed file into its parts (see `Part`). Iterative over nested sequences, so depth
/// is bounded by what the parser already accepted.
public enum Disassembler {
    static let pixelData = Tags.pixelData
    static let encapsulatedDocument = Tag(0x0042, 0x0011)
    static let iconImageSequence = Tag(0x0088, 0x0200)
    static let waveformData = Tag(0x5400, 0x1010)

    public static func parts(of file: DICOMFile) -> [Part] {
        var parts: [Part] = []
        if let preamble = file.preamble {
            parts.append(Part(kind: .preamble, location: "", bytes: .inline(preamble), tag: nil))
        }
        let metaBytes = file.meta.elements.flatMap { $0.inlineBytes ?? [] }
        parts.append(Part(kind: .fileMeta, location: "(0002,xxxx)", bytes: .inline(metaBytes), tag: nil))
        if let trailing = file.trailingBytes, !trailing.isEmpty {
            parts.append(Part(kind: .trailing, location: "after the data set",
                              bytes: .deferred(offset: trailing.lowerBound, length: Int64(trailing.count)), tag: nil))
        }

        // (data set, path prefix, inside an icon sequence)
        var pending: [(DataSet, String, Bool)] = [(file.dataSet, "", false)]
        while let (dataSet, prefix, inIcon) = pending.popLast() {
            let creators = privateCreators(dataSet)
            for element in dataSet.elements {
                let location = prefix + element.tag.description
                switch element.value {
                case let .sequence(items):
                    let icon = inIcon || element.tag == iconImageSequence
                    for (index, item) in items.enumerated().reversed() {
                        pending.append((item.dataSet, "\(location)[\(index)]", icon))
                    }
                case let .fragments(offsetTable, fragments):
                    parts.append(Part(kind: inIcon ? .icon : .offsetTable, location: location, bytes: offsetTable.bytes, tag: element.tag))
                    for (index, fragment) in fragments.enumerated() {
                        parts.append(Part(kind: inIcon ? .icon : .fragment(index: index), location: "\(location) fragment \(index + 1)",
                                          bytes: fragment.bytes, tag: element.tag))
                    }
                case let .bytes(value):
                    parts += valueParts(element, value, location: location, dataSet: dataSet, inIcon: inIcon, creators: creators)
                }
            }
        }
        return parts
    }

    private static func valueParts(_ element: DataElement, _ value: ValueBytes, location: String, dataSet: DataSet,
                                   inIcon: Bool, creators: [UInt32: String]) -> [Part] {
        let tag = element.tag
        // Private data, and odd-group elements outside any block (0000–000F: not allowed at all),
        // belong to a private part; creators (gggg,0010–00FF) are ordinary text.
        if tag.isPrivate && !(0x0010...0x00FF).contains(tag.element) {
            let block = UInt32(tag.group) << 8 | UInt32(tag.element >> 8)
            return [Part(kind: .privateBlock(creator: creators[block] ?? ""), location: location, bytes: value, tag: tag)]
        }
        if tag == pixelData {
            if inIcon { return [Part(kind: .icon, location: location, bytes: value, tag: tag)] }
            return frames(value, dataSet: dataSet, location: location)
        }
        if tag == encapsulatedDocument { return [Part(kind: .document, location: location, bytes: value, tag: tag)] }
        if tag == waveformData { return [Part(kind: .waveform, location: location, bytes: value, tag: tag)] }
        if tag.group & 0xFF00 == 0x6000 && tag.group & 1 == 0 && tag.element == 0x3000 {
            return [Part(kind: .overlay, location: location, bytes: value, tag: tag)]
        }
        if tag == Tags.dataSetTrailingPadding { return [Part(kind: .trailing, location: location, bytes: value, tag: tag)] }
        return [Part(kind: .element, location: location, bytes: value, tag: tag)]
    }

    /// Native Pixel Data split by frame size (Rows × Columns × Samples × Bits Allocated / 8);
    /// bytes past the last whole frame become one more part, so they are scanned too.
    static func frames(_ value: ValueBytes, dataSet: DataSet, location: String) -> [Part] {
        let rows = Int64(dataSet.uint16(Tag(0x0028, 0x0010)) ?? 0), columns = Int64(dataSet.uint16(Tag(0x0028, 0x0011)) ?? 0)
        let samples = Int64(dataSet.uint16(Tag(0x0028, 0x0002)) ?? 1), bits = Int64(dataSet.uint16(Tag(0x0028, 0x0100)) ?? 0)
        let frameCount = max(1, Int64(dataSet.int(Tag(0x0028, 0x0008)) ?? 1))
        let frameBits = rows * columns * samples * bits
        guard frameBits > 0, frameBits % 8 == 0, frameCount <= 1_000_000 else {
            return [Part(kind: .pixelFrame(index: 0), location: location, bytes: value, tag: pixelData)]
        }
        let frameSize = frameBits / 8
        var parts: [Part] = []
        var offset: Int64 = 0
        var index = 0
        while offset < value.length, index < frameCount {
            let length = min(frameSize, value.length - offset)
            parts.append(Part(kind: .pixelFrame(index: index), location: "\(location) frame \(index + 1)",
                              bytes: slice(value, offset, length), tag: pixelData))
            offset += length
            index += 1
        }
        if offset < value.length {
            parts.append(Part(kind: .trailing, location: "\(location) after the last frame",
                              bytes: slice(value, offset, value.length - offset), tag: pixelData))
        }
        return parts
    }

    static func slice(_ value: ValueBytes, _ offset: Int64, _ length: Int64) -> ValueBytes {
        switch value {
        case let .inline(bytes): .inline(Array(bytes[Int(offset)..<Int(offset + length)]))
        case let .deferred(start, _): .deferred(offset: start + offset, length: length)
        }
    }

    /// Private Creator elements (gggg,00xx) of one data set, keyed by group << 8 | block.
    static func privateCreators(_ dataSet: DataSet) -> [UInt32: String] {
        var creators: [UInt32: String] = [:]
        for element in dataSet.elements where element.tag.isPrivate && (0x0010...0x00FF).contains(element.tag.element) {
            creators[UInt32(element.tag.group) << 8 | UInt32(element.tag.element)] = dataSet.string(element.tag) ?? ""
        }
        return creators
    }
}
