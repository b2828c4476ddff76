import DICOMCore

/// Splits a parsed file into its parts (see `Part`). Iterative over nested sequences, so depth
/// is bounded by what the parser already accepted. Everything inside a private sequence belongs
/// to that sequence's private block; everything inside the Icon Image Sequence is icon.
public enum Disassembler {
    private struct Level {
        let dataSet: DataSet
        let parent: ElementPath?
        let item: Int
        let inIcon: Bool
        /// The creator of the private sequence this level is inside, if any.
        let privateCreator: String?
    }

    public static func parts(of file: DICOMFile) -> [Part] {
        var parts: [Part] = []
        if let preamble = file.preamble {
            parts.append(Part(kind: .preamble, location: "preamble", bytes: .inline(preamble), tag: nil, path: nil))
        }
        let metaBytes = file.meta.elements.flatMap { $0.inlineBytes ?? [] }
        parts.append(Part(kind: .fileMeta, location: "file meta", bytes: .inline(metaBytes), tag: nil, path: nil))
        if let trailing = file.trailingBytes, !trailing.isEmpty {
            parts.append(Part(kind: .trailing, location: "after the data set",
                              bytes: .deferred(offset: trailing.lowerBound, length: Int64(trailing.count)), tag: nil, path: nil))
        }
        let bigEndian = file.transferSyntax.bigEndian
        var pending = [Level(dataSet: file.dataSet, parent: nil, item: 0, inIcon: false, privateCreator: nil)]
        while let level = pending.popLast() {
            let creators = privateCreators(level.dataSet)
            for element in level.dataSet.elements {
                let path = level.parent?.child(item: level.item, tag: element.tag) ?? ElementPath(tag: element.tag)
                let creator = level.privateCreator ?? privateCreator(of: element.tag, creators)
                    ?? (element.tag.isPrivate ? level.dataSet.string(element.tag) ?? "" : nil)
                switch element.value {
                case let .sequence(items):
                    let icon = level.inIcon || element.tag == Tag.iconImageSequence
                    for (index, item) in items.enumerated().reversed() {
                        pending.append(Level(dataSet: item.dataSet, parent: path, item: index, inIcon: icon, privateCreator: creator))
                    }
                case let .fragments(offsetTable, fragments):
                    let kind: (Part.Kind) -> Part.Kind = { level.inIcon ? .icon : creator.map { .privateBlock(creator: $0) } ?? $0 }
                    parts.append(Part(kind: kind(.offsetTable), location: "\(path) offset table", bytes: offsetTable.bytes,
                                      tag: element.tag, path: path))
                    for (index, fragment) in fragments.enumerated() {
                        parts.append(Part(kind: kind(.fragment(index: index)), location: "\(path) fragment \(index + 1)",
                                          bytes: fragment.bytes, tag: element.tag, path: path))
                    }
                case let .bytes(value):
                    if let creator {
                        parts.append(Part(kind: .privateBlock(creator: creator), location: path.description, bytes: value,
                                          tag: element.tag, path: path))
                    } else {
                        parts += valueParts(element.tag, value, path: path, dataSet: level.dataSet, inIcon: level.inIcon,
                                            bigEndian: bigEndian)
                    }
                }
            }
        }
        return parts
    }

    /// The creator of the block a private data element belongs to; nil for public elements and
    /// for the creator elements themselves (gggg,0010–00FF), which are plain text. Odd-group
    /// elements outside any block (gggg,0001–000F: not allowed) count as a block without creator.
    static func privateCreator(of tag: Tag, _ creators: [UInt32: String]) -> String? {
        guard tag.isPrivate, !(0x0010...0x00FF).contains(tag.element) else { return nil }
        return creators[UInt32(tag.group) << 8 | UInt32(tag.element >> 8)] ?? ""
    }

    private static func valueParts(_ tag: Tag, _ value: ValueBytes, path: ElementPath, dataSet: DataSet,
                                   inIcon: Bool, bigEndian: Bool) -> [Part] {
        let location = path.description
        func part(_ kind: Part.Kind) -> [Part] { [Part(kind: kind, location: location, bytes: value, tag: tag, path: path)] }
        if tag == Tag.pixelData {
            return inIcon ? part(.icon) : frames(value, dataSet: dataSet, path: path, bigEndian: bigEndian)
        }
        if inIcon { return part(.icon) }
        if tag == Tag.encapsulatedDocument { return part(.document) }
        if tag == Tag.waveformData { return part(.waveform) }
        if tag.isOverlayData { return part(.overlay) }
        if tag == Tag.dataSetTrailingPadding { return part(.trailing) }
        return part(.element)
    }

    /// Native Pixel Data split by frame size (Rows × Columns × Samples × Bits Allocated / 8);
    /// bytes past the last whole frame become one more part, so they are scanned too.
    static func frames(_ value: ValueBytes, dataSet: DataSet, path: ElementPath, bigEndian: Bool) -> [Part] {
        let geometry = PixelGeometry(dataSet, bigEndian: bigEndian)
        let location = path.description
        guard let frameSize = geometry.frameBytes, geometry.frames <= 1_000_000 else {
            return [Part(kind: .pixelFrame(index: 0), location: location, bytes: value, tag: Tag.pixelData, path: path)]
        }
        var parts: [Part] = []
        var offset: Int64 = 0
        var index = 0
        while offset < value.length, index < geometry.frames {
            let length = min(frameSize, value.length - offset)
            parts.append(Part(kind: .pixelFrame(index: index), location: "\(location) frame \(index + 1)",
                              bytes: slice(value, offset, length), tag: Tag.pixelData, path: path))
            offset += length
            index += 1
        }
        if offset < value.length {
            parts.append(Part(kind: .trailing, location: "\(location) after the last frame",
                              bytes: slice(value, offset, value.length - offset), tag: Tag.pixelData, path: path))
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

extension Tag {
    /// Overlay Data (60xx,3000), even groups 6000–601E.
    var isOverlayData: Bool { group & 0xFF00 == 0x6000 && group & 1 == 0 && element == 0x3000 }
}

/// The size native pixel data must have: Rows × Columns × Samples per Pixel × Bits Allocated
/// × Number of Frames (PS3.3 C.7.6.3), read in the data set's byte order; `samples` is what
/// each pixel occupies.
struct PixelGeometry {
    let rows: Int64, columns: Int64, samples: Int64, bitsAllocated: Int64, frames: Int64

    init(_ dataSet: DataSet, bigEndian: Bool) {
        rows = Int64(dataSet.uint16(Tag.rows, bigEndian: bigEndian) ?? 0)
        columns = Int64(dataSet.uint16(Tag.columns, bigEndian: bigEndian) ?? 0)
        let declared = Int64(dataSet.uint16(Tag.samplesPerPixel, bigEndian: bigEndian) ?? 1)
        // Native YBR_FULL_422 stores two chroma samples per pair of pixels (PS3.3 C.7.6.3.1.2):
        // two samples' worth per pixel, not three.
        samples = declared == 3 && dataSet.string(Tag.photometricInterpretation) == "YBR_FULL_422" ? 2 : declared
        bitsAllocated = Int64(dataSet.uint16(Tag.bitsAllocated, bigEndian: bigEndian) ?? 0)
        frames = max(1, Int64(dataSet.int(Tag.numberOfFrames) ?? 1))
    }

    /// Bytes of one frame when frames are whole bytes (1-bit images pack frames across bytes).
    var frameBytes: Int64? {
        let bits = rows * columns * samples * bitsAllocated
        return bits > 0 && bits % 8 == 0 ? bits / 8 : nil
    }

    /// Bytes all frames need (each value ≤ 65535, frames capped by the caller's check: no overflow).
    var totalBytes: Int64 { (rows * columns * samples * bitsAllocated * min(frames, 1 << 24) + 7) / 8 }
}
