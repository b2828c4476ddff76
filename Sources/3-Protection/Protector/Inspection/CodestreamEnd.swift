import DICOMCore
import SessionReport

/// Bytes after the end of a codestream (THREATS.md 9): a decoder stops at the JPEG end-of-image,
/// the JPEG 2000 end-of-codestream or the last RLE segment, so whatever follows — in the same
/// fragment or in further fragments of the frame — is never seen by it and can carry anything.
/// Each frame's codestream is followed marker by marker (segment lengths are only claims: every
/// step reads the bytes it skips past, and stops at the end of the frame's fragments), the one pad
/// byte PS3.5 A.4 allows to make a fragment even is kept, and the rest is cut: the fragment is
/// shortened, fragments after the end are left out, a Basic Offset Table is rewritten. The cut
/// bytes become parts of their own, so the program search and the engines look at them and name
/// what was there before they go.
enum CodestreamEnd {
    enum Family: Equatable {
        case jpeg, jpegLS, jpeg2000, rle

        init?(_ transferSyntax: TransferSyntax) {
            let uid = transferSyntax.uid
            let jpeg = "1.2.840.10008.1.2.4."
            guard uid.hasPrefix(jpeg) || uid == "1.2.840.10008.1.2.5" else { return nil }
            if uid == "1.2.840.10008.1.2.5" { self = .rle; return }
            switch Int(uid.dropFirst(jpeg.count)) ?? 0 {
            case 50...66, 70: self = .jpeg
            case 80, 81: self = .jpegLS
            case 90...93, 201...203: self = .jpeg2000
            default: return nil
            }
        }

        var name: String {
            switch self {
            case .jpeg: "JPEG end-of-image (FFD9)"
            case .jpegLS: "JPEG-LS end-of-image (FFD9)"
            case .jpeg2000: "JPEG 2000 end-of-codestream (FFD9)"
            case .rle: "last RLE segment"
            }
        }

        /// Whether a fragment starts like a frame of this family (to find frame starts without a table).
        func starts(_ head: [UInt8]) -> Bool {
            switch self {
            case .jpeg, .jpegLS: return head.starts(with: [0xFF, 0xD8])
            case .jpeg2000: return head.starts(with: [0xFF, 0x4F]) || head.starts(with: [0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20])
            case .rle:
                guard head.count >= 8 else { return false }
                return (1...15).contains(RLE.u32(head, 0)) && RLE.u32(head, 4) == 64
            }
        }

        /// The pad byte allowed after an odd-length codestream: 00 (PS3.5 A.4); for JPEG also FF,
        /// a fill byte some encoders write (one byte cannot carry anything).
        func allowsPad(_ byte: UInt8) -> Bool { byte == 0 || (byte == 0xFF && self != .rle) }
    }

    struct Result {
        var parts: [Part]
        var observations: [Observation] = []
    }

    /// Where each frame's codestream ends in one encapsulated Pixel Data element, and what lies
    /// after the ends.
    struct Walk {
        var cut = CodestreamCut()
        /// One line per frame with bytes after its end.
        var notes: [String] = []
        /// Whether everything cut is filler (00 or FF, as some encoders pad fragments): still cut,
        /// but reported as routine.
        var filler = true
        /// Bytes inside a codestream that cannot be cut (between RLE segments).
        var rejection: String?
    }

    /// Follows each frame of `fragments` to the end of its codestream; nil when where frames start
    /// is not known well enough to cut anything.
    static func walk(_ family: Family, table: Fragment, values: [ValueBytes], frames: Int, segmentBytes: Int64,
                     reader: ValueReader) -> Walk? {
        let heads = { (index: Int) in reader.head(values[index], 8) }
        // Frame starts: one fragment each, all in one frame, the offset table, or found as we go.
        let known: [Int]? = values.count == frames ? Array(0..<frames)
            : frames == 1 ? [0] : starts(table, values, frames: frames, reader: reader)
        var walk = Walk()
        var next = 0
        for frame in 0..<frames {
            let start = known?[frame] ?? next
            guard start < values.count else { return nil } // fewer frames than declared: other checks report it
            walk.cut.frameStarts.append(start)
            let limit = known.map { frame + 1 < $0.count ? $0[frame + 1] : values.count } ?? values.count
            var stream = FragmentStream(values: Array(values[start..<limit]), reader: reader)
            let outcome: Outcome = switch family {
            case .jpeg, .jpegLS: JPEG.end(&stream, ls: family == .jpegLS)
            case .jpeg2000: JPEG2000.end(&stream)
            case .rle: RLE.end(&stream, segmentBytes: segmentBytes)
            }
            switch outcome {
            case let .gap(detail):
                walk.rejection = walk.rejection ?? "frame \(frame + 1): \(detail)"
                next = (start + 1..<values.count).first { family.starts(heads($0)) } ?? values.count
            case .unknown:
                // Not followed to its end (damaged, or a form not parsed here): nothing is cut, and
                // without a table the next frame is the next fragment that starts like one.
                next = (start + 1..<values.count).first { family.starts(heads($0)) } ?? values.count
            case let .ended(relative, offset):
                let last = start + relative
                let end = known == nil
                    ? (frame + 1 < frames ? (last + 1..<values.count).first { family.starts(heads($0)) } : values.count)
                    : limit
                guard let end else { return nil } // where the next frame starts is not known: cut nothing
                var bytes: Int64 = 0
                let tail = values[last].length - offset
                let padded = tail == 1 && offset & 1 == 1 && reader.bytes(values[last], at: offset, count: 1).first.map(family.allowsPad) == true
                if tail > 0 && !padded {
                    walk.cut.truncated[last] = offset
                    bytes += tail
                    walk.filler = walk.filler && isFiller(values[last], from: offset, reader: reader)
                }
                for index in last + 1..<end {
                    walk.cut.dropped.insert(index)
                    bytes += values[index].length
                    walk.filler = walk.filler && isFiller(values[index], from: 0, reader: reader)
                }
                if bytes > 0 {
                    let spilled = end > last + 1 ? " and \(end - last - 1) further fragment(s)" : ""
                    walk.notes.append("frame \(frame + 1): \(bytes) byte(s) after the \(family.name) in fragment \(last + 1)\(spilled)")
                }
                next = end
            }
        }
        return walk
    }

    /// The parts with each fragment narrowed to its codestream and the cut bytes as parts of their
    /// own (appended, so existing indices stay), and the observation that cuts them on rebuild.
    static func separate(_ file: DICOMFile, _ parts: [Part], reader: ValueReader) -> Result {
        var result = Result(parts: parts)
        result.observations = icons(file, reader: reader)
        let dataSet = file.dataSet
        let path = ElementPath(tag: Tag.pixelData)
        guard let family = Family(file.transferSyntax), let pixels = dataSet[Tag.pixelData],
              case let .fragments(table, fragments) = pixels.value, !fragments.isEmpty else { return result }
        // The part of each fragment (the disassembler lists them in order).
        let fragmentParts = parts.indices.filter { parts[$0].path == path && { if case .fragment = $0 { true } else { false } }(parts[$0].kind) }
        guard fragmentParts.count == fragments.count,
              var walk = walk(family, table: table, values: fragments.map(\.bytes), frames: max(1, dataSet.int(Tag.numberOfFrames) ?? 1),
                              segmentBytes: segmentBytes(dataSet), reader: reader) else { return result }
        if let rejection = walk.rejection {
            result.observations.append(Observation(Finding(.pixelCodestreamTrailing, .high,
                "\(rejection); bytes between segments cannot be cut without re-encoding, so the file is rejected",
                element: Tag.pixelData.description), part: fragmentParts.first, remedy: .reject))
        }
        guard !walk.notes.isEmpty else { return result }

        // The cut bytes as parts of their own; the fragments keep only their codestream.
        for (index, length) in walk.cut.truncated.sorted(by: { $0.key < $1.key }) {
            let part = result.parts[fragmentParts[index]]
            result.parts[fragmentParts[index]] = Part(kind: part.kind, location: part.location, bytes: Disassembler.slice(part.bytes, 0, length),
                                                      tag: part.tag, path: part.path)
            walk.cut.narrowedParts.insert(fragmentParts[index])
            walk.cut.cutParts.insert(result.parts.count)
            result.parts.append(Part(kind: .trailing, location: "\(part.location) after the codestream end",
                                     bytes: Disassembler.slice(part.bytes, length, part.bytes.length - length), tag: Tag.pixelData, path: path))
        }
        for index in walk.cut.dropped.sorted() {
            let part = result.parts[fragmentParts[index]]
            result.parts[fragmentParts[index]] = Part(kind: .trailing, location: "\(part.location) after the codestream end",
                                                      bytes: part.bytes, tag: Tag.pixelData, path: path)
            walk.cut.cutParts.insert(fragmentParts[index])
        }
        let shown = walk.notes.prefix(5).joined(separator: "; ") + (walk.notes.count > 5 ? "; and \(walk.notes.count - 5) more frame(s)" : "")
        if dataSet[Tag.extendedOffsetTable] != nil {
            // The Extended Offset Table's 64-bit offsets and lengths would all have to be recomputed.
            result.observations.append(Observation(Finding(.pixelCodestreamTrailing, .high,
                "\(shown); with an Extended Offset Table the file is rejected instead of cut", element: Tag.pixelData.description),
                part: fragmentParts.first, remedy: .reject))
        } else {
            result.observations.append(Observation(Finding(.pixelCodestreamTrailing, walk.filler ? .low : .high,
                "\(shown)\(walk.filler ? ", only filler bytes (00/FF)" : ""); cut off", element: Tag.pixelData.description),
                remedy: .cutCodestreams(path, walk.cut)))
        }
        return result
    }

    /// Encapsulated icons (Icon Image Sequence items, one frame each): bytes after an icon's
    /// codestream remove the icon — it is optional, and an icon is not worth a rewrite.
    static func icons(_ file: DICOMFile, reader: ValueReader) -> [Observation] {
        let sequence = Tag.iconImageSequence
        guard let family = Family(file.transferSyntax), let items = file.dataSet[sequence]?.items else { return [] }
        var observations: [Observation] = []
        for (index, item) in items.enumerated() {
            guard case let .fragments(table, fragments)? = item.dataSet[Tag.pixelData]?.value, !fragments.isEmpty,
                  let walk = walk(family, table: table, values: fragments.map(\.bytes), frames: 1,
                                  segmentBytes: segmentBytes(item.dataSet), reader: reader),
                  walk.rejection != nil || !walk.notes.isEmpty else { continue }
            let detail = walk.rejection ?? walk.notes.joined(separator: "; ")
            observations.append(Observation(Finding(.pixelCodestreamTrailing, walk.filler && walk.rejection == nil ? .low : .high,
                "the icon's \(detail); the icon was removed", element: ElementPath(tag: sequence).child(item: index, tag: Tag.pixelData).description),
                remedy: .removeElement(ElementPath(tag: sequence))))
        }
        return observations
    }

    /// Bytes each RLE segment decodes to: Rows × Columns (RLE is little endian only).
    static func segmentBytes(_ dataSet: DataSet) -> Int64 {
        Int64(dataSet.uint16(Tag.rows, bigEndian: false) ?? 0) * Int64(dataSet.uint16(Tag.columns, bigEndian: false) ?? 0)
    }

    /// Whether a value holds only 00 or FF bytes from `offset` on (looked at up to 64 KiB: more is
    /// not filler).
    static func isFiller(_ value: ValueBytes, from offset: Int64, reader: ValueReader) -> Bool {
        let count = value.length - offset
        guard count <= 64 << 10 else { return false }
        let bytes = reader.bytes(value, at: offset, count: Int(count))
        return Int64(bytes.count) == count && bytes.allSatisfy { $0 == 0 || $0 == 0xFF }
    }

    /// Frame starts from a Basic Offset Table whose entries each hit the start of a fragment item.
    static func starts(_ table: Fragment, _ values: [ValueBytes], frames: Int, reader: ValueReader) -> [Int]? {
        guard frames <= 1 << 20, table.bytes.length == Int64(frames) * 4 else { return nil }
        let entries = reader.head(table.bytes, frames * 4)
        guard entries.count == frames * 4 else { return nil }
        var itemStart: [Int64: Int] = [:]
        var position: Int64 = 0
        for (index, value) in values.enumerated() {
            itemStart[position] = index
            position += 8 + value.length
        }
        var starts: [Int] = []
        for frame in 0..<frames {
            guard let index = itemStart[Int64(RLE.u32(entries, frame * 4))], index > (starts.last ?? -1) else { return nil }
            starts.append(index)
        }
        return starts
    }

    enum Outcome: Equatable {
        /// The codestream ends at this byte offset of this fragment (relative to the frame's first).
        case ended(fragment: Int, offset: Int64)
        /// Bytes inside the codestream that no decoder reads (between RLE segments).
        case gap(String)
        /// Not followed to its end.
        case unknown
    }
}

/// One frame's fragments as one byte stream, read in 64 KiB pieces: nothing is held whole, and a
/// skip past the end stops at the end.
struct FragmentStream {
    let values: [ValueBytes]
    let reader: ValueReader
    private(set) var fragment = 0
    /// Offset in the current fragment of the next byte.
    private(set) var offset: Int64 = 0
    /// Bytes consumed since the start of the frame.
    private(set) var consumed: Int64 = 0
    private var buffer: [UInt8] = []
    private var bufferStart: Int64 = 0
    private static let piece = 64 << 10

    init(values: [ValueBytes], reader: ValueReader) { self.values = values; self.reader = reader }

    mutating func next() -> UInt8? {
        while fragment < values.count {
            if offset < values[fragment].length {
                if offset < bufferStart || offset >= bufferStart + Int64(buffer.count) {
                    buffer = reader.bytes(values[fragment], at: offset, count: Self.piece)
                    bufferStart = offset
                    guard !buffer.isEmpty else { return nil }
                }
                let byte = buffer[Int(offset - bufferStart)]
                offset += 1
                consumed += 1
                return byte
            }
            fragment += 1
            offset = 0
            buffer = []
            bufferStart = 0
        }
        return nil
    }

    /// Skips `count` bytes; false when the frame's fragments end first.
    mutating func skip(_ count: Int64) -> Bool {
        guard count >= 0 else { return false }
        var left = count
        while left > 0 {
            guard fragment < values.count else { return false }
            let here = min(left, values[fragment].length - offset)
            offset += here
            consumed += here
            left -= here
            if left > 0 {
                fragment += 1
                offset = 0
                buffer = []
                bufferStart = 0
            }
        }
        return true
    }

    /// The position just after the last byte read.
    var end: CodestreamEnd.Outcome { .ended(fragment: fragment, offset: offset) }

    mutating func u16() -> Int? {
        guard let high = next(), let low = next() else { return nil }
        return Int(high) << 8 | Int(low)
    }

    mutating func u32() -> Int64? {
        guard let high = u16(), let low = u16() else { return nil }
        return Int64(high) << 16 | Int64(low)
    }
}

/// JPEG (ISO 10918-1: baseline, extended, progressive, lossless, hierarchical) and JPEG-LS (ISO
/// 14495-1): segments by their lengths, entropy-coded data byte by byte until a marker.
enum JPEG {
    static func end(_ s: inout FragmentStream, ls: Bool) -> CodestreamEnd.Outcome {
        guard s.next() == 0xFF, s.next() == 0xD8, var marker = nextMarker(&s) else { return .unknown }
        while true {
            switch marker {
            case 0xD9:
                return s.end
            case 0xD0...0xD7, 0x01:
                guard let following = nextMarker(&s) else { return .unknown }
                marker = following
            case 0xD8, 0x00:
                return .unknown
            default:
                guard let length = s.u16(), length >= 2, s.skip(Int64(length - 2)) else { return .unknown }
                guard let following = marker == 0xDA ? entropyCoded(&s, ls: ls) : nextMarker(&s) else { return .unknown }
                marker = following
            }
        }
    }

    /// The marker code after FF and any fill bytes (FF FF …); nil when no marker is there.
    private static func nextMarker(_ s: inout FragmentStream) -> UInt8? {
        guard s.next() == 0xFF else { return nil }
        var byte = s.next()
        while byte == 0xFF { byte = s.next() }
        return byte
    }

    /// Skips scan data to the marker that ends it. In JPEG, FF 00 is a data byte and FF D0–D7 a
    /// restart; in JPEG-LS, FF followed by a byte below 80 is data (bit stuffing).
    private static func entropyCoded(_ s: inout FragmentStream, ls: Bool) -> UInt8? {
        while let byte = s.next() {
            guard byte == 0xFF else { continue }
            var code = s.next()
            while code == 0xFF { code = s.next() }
            guard let code else { return nil }
            if ls ? code < 0x80 : code == 0 { continue }
            if (0xD0...0xD7).contains(code) { continue }
            return code
        }
        return nil
    }
}

/// JPEG 2000 (ISO 15444-1, also HTJ2K): main header segments, then tile-parts by their Psot
/// lengths, then EOC; a raw codestream or one inside a JP2 `jp2c` box.
enum JPEG2000 {
    static func end(_ s: inout FragmentStream) -> CodestreamEnd.Outcome {
        guard let first = s.next(), let second = s.next() else { return .unknown }
        if first == 0xFF && second == 0x4F { return codestream(&s) }
        guard first == 0, second == 0 else { return .unknown }
        // JP2 boxes: LBox (1 = 64-bit XLBox follows, 0 = to the end), TBox.
        guard let rest = s.u16(), rest == 0x0C else { return .unknown }
        var header: Int64 = 8
        var length: Int64 = 0x0C
        var type: Int64 = (s.u32() ?? 0)
        while true {
            if type == 0x6A70_3263 { // "jp2c"
                if length == 0 { return soc(&s) ? codestream(&s) : .unknown }
                guard length >= header, s.skip(length - header) else { return .unknown }
                return s.end
            }
            guard length >= header, s.skip(length - header) else { return .unknown }
            guard let box = s.u32(), let boxType = s.u32() else { return .unknown }
            header = 8
            length = box
            type = boxType
            if box == 1 {
                guard let high = s.u32(), let low = s.u32(), high < 1 << 31 else { return .unknown }
                length = high << 32 | low
                header = 16
            }
            if box == 0 && type != 0x6A70_3263 { return .unknown }
        }
    }

    private static func soc(_ s: inout FragmentStream) -> Bool { s.next() == 0xFF && s.next() == 0x4F }

    /// After SOC: marker segments to the first SOT, then tile-parts to EOC.
    private static func codestream(_ s: inout FragmentStream) -> CodestreamEnd.Outcome {
        while true {
            guard s.next() == 0xFF, let marker = s.next() else { return .unknown }
            switch marker {
            case 0xD9:
                return s.end
            case 0x90:
                // SOT: Lsot = 10, Isot, Psot (from the SOT marker's first byte; 0 = up to EOC), TPsot, TNsot.
                guard s.u16() == 10, s.u16() != nil, let psot = s.u32(), s.skip(2) else { return .unknown }
                if psot == 0 { return toEOC(&s) }
                guard psot >= 14, s.skip(psot - 12) else { return .unknown }
            case 0x30...0x3F:
                continue // reserved markers without a segment
            default:
                guard let length = s.u16(), length >= 2, s.skip(Int64(length - 2)) else { return .unknown }
            }
        }
    }

    /// The last tile-part runs to EOC: coded data never holds FF followed by a byte above 8F, so
    /// the first FF D9 is the end.
    private static func toEOC(_ s: inout FragmentStream) -> CodestreamEnd.Outcome {
        var previous: UInt8 = 0
        while let byte = s.next() {
            if previous == 0xFF && byte == 0xD9 { return s.end }
            previous = byte
        }
        return .unknown
    }
}

/// RLE (PS3.5 G): a 64-byte header of segment offsets, then PackBits segments, each decoding to
/// Rows × Columns bytes. Each segment is decoded (counting, nothing stored) to where it really
/// ends; one pad byte 00 may follow it, anything else between segments is a gap.
enum RLE {
    static func u32(_ bytes: [UInt8], _ at: Int) -> Int {
        Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }

    static func end(_ s: inout FragmentStream, segmentBytes: Int64) -> CodestreamEnd.Outcome {
        var header: [UInt8] = []
        for _ in 0..<64 {
            guard let byte = s.next() else { return .unknown }
            header.append(byte)
        }
        let count = u32(header, 0)
        guard (1...15).contains(count), segmentBytes > 0 else { return .unknown }
        let offsets = (0..<count).map { Int64(u32(header, 4 + 4 * $0)) }
        guard offsets[0] == 64, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 }) else { return .unknown }
        for (segment, offset) in offsets.enumerated() {
            if s.consumed > offset { return .unknown } // the previous segment ran into this one
            let gap = offset - s.consumed
            if gap > 0 {
                var bytes: [UInt8] = []
                for _ in 0..<min(gap, 2) { if let byte = s.next() { bytes.append(byte) } }
                guard gap == 1, bytes == [0] else {
                    return .gap("\(gap) byte(s) between RLE segments \(segment) and \(segment + 1) that no decoder reads")
                }
            }
            var produced: Int64 = 0
            while produced < segmentBytes {
                guard let control = s.next() else { return .unknown }
                if control < 0x80 {
                    guard s.skip(Int64(control) + 1) else { return .unknown }
                    produced += Int64(control) + 1
                } else if control > 0x80 {
                    guard s.next() != nil else { return .unknown }
                    produced += 257 - Int64(control)
                }
            }
            if segment + 1 < offsets.count, s.consumed > offsets[segment + 1] { return .unknown }
        }
        return s.end
    }
}
