import DICOMCore
import FileSignatures
import SessionReport

/// Checks each part on its own (THREATS.md 1, 3, 4, 5, 9): programs hidden in values, pixel data
/// that lies about its size, codestreams that do not start like their transfer syntax says, offset
/// tables that point outside, documents whose type does not fit. Each observation says what the
/// rebuild must do.
public struct PartInspector: Sendable {
    public let activeDocuments: ProtectorPolicy.ActiveDocumentRule

    public init(activeDocuments: ProtectorPolicy.ActiveDocumentRule = .reject) { self.activeDocuments = activeDocuments }

    public func inspect(_ file: DICOMFile, parts: [Part], reader: ValueReader) -> [Observation] {
        var observations: [Observation] = []
        let dataSet = file.dataSet
        // A frame may span several fragments; only frame starts carry a codestream header. They are
        // known when there is one fragment per frame, else only the first fragment is one.
        let frameCount = max(1, dataSet.int(Tag.numberOfFrames) ?? 1)
        let fragmentCount = parts.filter { if case .fragment = $0.kind { return true }; return false }.count
        for (index, part) in parts.enumerated() {
            switch part.kind {
            case let .fragment(fragment):
                if fragment == 0 || fragmentCount == frameCount,
                   let problem = CodestreamCheck.problem(reader.head(part.bytes, 512), transferSyntax: file.transferSyntax) {
                    observations.append(Observation(Finding(.pixelCodestreamInvalid, .high, "\(part.location): \(problem)",
                                                            element: part.tag?.description), part: index, remedy: .reject))
                }
            case .document:
                let document = DocumentCheck.observations(reader.head(part.bytes, 512), dataSet: dataSet, part: index)
                observations += document
                // A document that is a program as a whole is reported once.
                if document.contains(where: { $0.finding.code == .documentExecutable }) { continue }
                if !document.contains(where: { $0.remedy == .reject }),
                   let active = DocumentCheck.activeContent(part, index: index, dataSet: dataSet, reader: reader, rule: activeDocuments) {
                    observations.append(active)
                }
            default:
                break
            }
            if let observation = EmbeddedProgram.observation(part, index: index, dataSet: dataSet, reader: reader) {
                observations.append(observation)
            }
        }
        observations += PixelCheck.observations(file, reader: reader)
        return observations
    }

    /// The VR of the element at `path` (top level or nested), for deciding how to read its value.
    static func vr(of path: ElementPath, in root: DataSet) -> VR? {
        var dataSet = root
        for step in path.steps {
            guard let items = dataSet[step.sequence]?.items, items.indices.contains(step.item) else { return nil }
            dataSet = items[step.item].dataSet
        }
        return dataSet[path.tag]?.vr
    }
}

/// Program signatures in a value. Binary values match any signature; text values only those that
/// cannot be ordinary text (two letters "MZ" or "#!" alone are words, not programs).
enum EmbeddedProgram {
    static func find(_ head: [UInt8], vr: VR?) -> ExecutableSignature? {
        guard let program = ExecutableSignatures.match(head) else { return nil }
        switch vr {
        case .OB?, .OD?, .OF?, .OL?, .OV?, .OW?, .UN?, nil: return program
        default:
            if program.kind == .dos { return nil }
            if program.kind == .script { return head.starts(with: Array("#!/".utf8)) ? program : nil }
            return program
        }
    }
}

extension EmbeddedProgram {
    /// The one program search every part goes through (THREATS.md 1, 3, 5, 9): its start against
    /// every signature where a program may start a value, then every offset against the strong
    /// signatures. A program found asks for the part's removal; the reconstruction rejects the
    /// file instead when the image cannot do without the part (a frame, a fragment, the document
    /// of a document class, the waveform of a waveform object).
    static func observation(_ part: Part, index: Int, dataSet: DataSet, reader: ValueReader) -> Observation? {
        let vr = part.path.flatMap { PartInspector.vr(of: $0, in: dataSet) }
        func found(_ detail: String) -> Observation {
            Observation(Finding(.executableEmbedded, .critical, detail, element: part.tag?.description), part: index, remedy: .removePart)
        }
        if checksStart(part.kind), let program = find(reader.head(part.bytes, 512), vr: vr) {
            return found("\(program.description) inside \(part.location)")
        }
        if searchesWhole(part.kind), let (offset, program) = search(part.bytes, reader) {
            return found("\(program.description) at byte \(offset) of \(part.location)")
        }
        return nil
    }

    /// Values that may be a program as a whole, where even a weak signature (a bare "MZ") at the
    /// start counts. Not pixels, codestreams or documents: their first bytes are data that may spell
    /// "MZ" or "#!" by chance, and their own checks look at how they start.
    static func checksStart(_ kind: Part.Kind) -> Bool {
        switch kind {
        case .element, .privateBlock, .waveform, .overlay, .icon, .trailing: true
        case .preamble, .fileMeta, .pixelFrame, .offsetTable, .fragment, .document: false
        }
    }

    /// Searched end to end, at every offset: every part at any depth — values of every VR (binary
    /// ones, and text, since a UN value read back with its dictionary's text VR still holds what the
    /// file carried), private values, native frames, fragments and offset tables, overlays, curves,
    /// waveform samples, icons, documents, trailing bytes. Not the preamble: it has its own check
    /// and is never delivered.
    static func searchesWhole(_ kind: Part.Kind) -> Bool { kind != .preamble }

    /// The first strong program signature anywhere in a value, read in 4 MiB pieces that overlap
    /// by 64 KiB (a PE header is found when its DOS header and "PE" lie within that reach).
    static func search(_ value: ValueBytes, _ reader: ValueReader) -> (Int64, ExecutableSignature)? {
        if case let .inline(bytes) = value { return EmbeddedSearch.find(in: bytes).map { (Int64($0.offset), $0.signature) } }
        guard case let .deferred(start, length) = value else { return nil }
        let piece: Int64 = 4 << 20, overlap: Int64 = 64 << 10
        var offset: Int64 = 0
        while offset < length {
            let count = min(piece, length - offset)
            guard let bytes = try? reader.source.read(at: start + offset, count: Int(count)) else { return nil }
            if let found = EmbeddedSearch.find(in: bytes) { return (offset + Int64(found.offset), found.signature) }
            if offset + count >= length { break }
            offset += count - overlap
        }
        return nil
    }
}

/// The first bytes of a compressed frame must be what its transfer syntax promises (PS3.5 A.4).
enum CodestreamCheck {
    static func problem(_ head: [UInt8], transferSyntax: TransferSyntax) -> String? {
        let uid = transferSyntax.uid
        if uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81" {
            // JPEG-LS: SOI, then (after any APPn segments) its own start-of-frame, SOF55 (FFF7).
            guard head.starts(with: [0xFF, 0xD8]) else { return "not a JPEG-LS codestream (no FFD8 start-of-image marker)" }
            return firstFrameMarker(head) == 0xF7 ? nil : "a JPEG codestream without the JPEG-LS start-of-frame (FFF7)"
        }
        if uid.hasPrefix("1.2.840.10008.1.2.4.5") || uid == "1.2.840.10008.1.2.4.70" || uid.hasPrefix("1.2.840.10008.1.2.4.8") {
            return head.starts(with: [0xFF, 0xD8]) ? nil : "not a JPEG codestream (no FFD8 start-of-image marker)"
        }
        if uid.hasPrefix("1.2.840.10008.1.2.4.9") || uid.hasPrefix("1.2.840.10008.1.2.4.20") {
            let jp2 = head.count >= 12 && Array(head[4..<8]) == Array("jP  ".utf8)
            return head.starts(with: [0xFF, 0x4F]) || jp2 ? nil : "not a JPEG 2000 codestream (no FF4F marker or jp2 box)"
        }
        if uid == "1.2.840.10008.1.2.5" {
            // RLE header: 16 little-endian UInt32s, segment count 1…15, first offset 64 (PS3.5 G.3.1).
            guard head.count >= 64 else { return "RLE header shorter than 64 bytes" }
            let segments = UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24
            let first = UInt32(head[4]) | UInt32(head[5]) << 8 | UInt32(head[6]) << 16 | UInt32(head[7]) << 24
            return (1...15).contains(segments) && first == 64 ? nil : "invalid RLE header (\(segments) segments, first at \(first))"
        }
        return nil
    }
}

extension CodestreamCheck {
    /// The first marker after SOI that is not an APPn, COM, DQT, DHT or DRI segment, following the
    /// segment lengths within `head`; nil when `head` ends first.
    static func firstFrameMarker(_ head: [UInt8]) -> UInt8? {
        var i = 2
        while i + 4 <= head.count {
            guard head[i] == 0xFF else { return nil }
            let marker = head[i + 1]
            let skippable = (0xE0...0xEF).contains(marker) || [0xFE, 0xDB, 0xC4, 0xDD, 0xF8].contains(marker)
            guard skippable else { return marker }
            i += 2 + (Int(head[i + 2]) << 8 | Int(head[i + 3]))
        }
        return nil
    }
}

/// Encapsulated documents (THREATS.md 4): the MIME type must fit the storage class, the content
/// must start like that type, and no program may hide inside.
enum DocumentCheck {
    static let expected: [String: (mime: String, magic: [UInt8]?)] = [
        "1.2.840.10008.5.1.4.1.1.104.1": ("application/pdf", Array("%PDF".utf8)),
        "1.2.840.10008.5.1.4.1.1.104.2": ("text/XML", Array("<".utf8)),
        "1.2.840.10008.5.1.4.1.1.104.3": ("model/stl", nil),
        "1.2.840.10008.5.1.4.1.1.104.4": ("model/obj", nil),
        "1.2.840.10008.5.1.4.1.1.104.5": ("model/mtl", nil),
    ]

    static func isDocumentClass(_ sopClass: String) -> Bool { expected[sopClass] != nil }

    static func observations(_ head: [UInt8], dataSet: DataSet, part: Int) -> [Observation] {
        let sopClass = dataSet.string(Tag.sopClassUID) ?? ""
        let mime = dataSet.string(Tag.mimeTypeOfEncapsulatedDocument) ?? ""
        if let program = ExecutableSignatures.match(head) {
            return [Observation(Finding(.documentExecutable, .critical, "the encapsulated document is a \(program.description)",
                                        element: Tag.encapsulatedDocument.description), part: part, remedy: .removePart)]
        }
        guard let rule = expected[sopClass] else {
            return [Observation(Finding(.documentEmbedded, .medium, "an encapsulated document in a storage class that has none; removed",
                                        element: Tag.encapsulatedDocument.description), part: part, remedy: .removePart)]
        }
        if mime.lowercased() != rule.mime.lowercased() {
            return [Observation(Finding(.documentTypeMismatch, .high, "MIME type \"\(mime)\" does not fit the storage class (expects \(rule.mime))",
                                        element: Tag.mimeTypeOfEncapsulatedDocument.description), part: part, remedy: .reject)]
        }
        // XML may open with a byte-order mark or be UTF-16 (XML 1.0 §4.3.3).
        let xmlStart = rule.mime == "text/XML" && XMLScanner.decode(head).drop { [0xEF, 0xBB, 0xBF, 0x20, 0x09, 0x0A, 0x0D].contains($0) }.first == 0x3C
        if let magic = rule.magic, !head.starts(with: magic), !xmlStart {
            return [Observation(Finding(.documentTypeMismatch, .high, "the content does not start like \(rule.mime)", element: Tag.encapsulatedDocument.description),
                                part: part, remedy: .reject)]
        }
        return [Observation(Finding(.documentEmbedded, .info, "holds a \(rule.mime) document; scanned on its own", element: Tag.encapsulatedDocument.description),
                            part: part)]
    }
}

extension DocumentCheck {
    /// Scripts, automatic actions and external references in a PDF or XML document. Nothing can
    /// take them out and leave a document that is known to be whole (see README, "Active content"),
    /// so the instance is rejected or, by policy, left out; a document smuggled into another
    /// storage class is simply removed.
    static func activeContent(_ part: Part, index: Int, dataSet: DataSet, reader: ValueReader,
                              rule: ProtectorPolicy.ActiveDocumentRule) -> Observation? {
        let mime = (dataSet.string(Tag.mimeTypeOfEncapsulatedDocument) ?? "").lowercased()
        let head = reader.head(part.bytes, 8)
        let pdf = mime == "application/pdf" || head.starts(with: Array("%PDF".utf8))
        let xml = !pdf && (mime.hasSuffix("/xml") || mime.hasSuffix("+xml") || XMLScanner.decode(head).first == 0x3C)
        guard pdf || xml else { return nil }
        let found: [String]
        if part.bytes.length > Int64(ActiveContent.limit) {
            found = ["more than \(ActiveContent.limit >> 20) MiB, too large to inspect"]
        } else {
            let bytes = reader.head(part.bytes, Int(part.bytes.length))
            found = Int64(bytes.count) != part.bytes.length ? ["content that could not be read"]
                : pdf ? ActiveContent.pdf(bytes) : ActiveContent.xml(bytes)
        }
        guard !found.isEmpty else { return nil }
        let what = "the \(pdf ? "PDF" : "XML") document holds \(found.joined(separator: ", "))"
        let element = Tag.encapsulatedDocument.description
        guard isDocumentClass(dataSet.string(Tag.sopClassUID) ?? "") else {
            return Observation(Finding(.documentActiveContent, .high, what + "; removed", element: element), part: index, remedy: .removePart)
        }
        return rule == .reject
            ? Observation(Finding(.documentActiveContent, .high, what + "; not delivered: active content cannot be removed safely",
                                  element: element), part: index, remedy: .reject)
            : Observation(Finding(.documentActiveContent, .medium, what + "; left out of delivery by policy (active_documents = \"drop\")",
                                  element: element), part: index, remedy: .leaveOut)
    }
}

/// Native Pixel Data length against its dimensions (THREATS.md 9); overlays against their own rows
/// and columns (THREATS.md 5); Basic Offset Table entries inside the fragments.
enum PixelCheck {
    static func observations(_ file: DICOMFile, reader: ValueReader) -> [Observation] {
        var observations: [Observation] = []
        let ds = file.dataSet
        let path = ElementPath(tag: Tag.pixelData)
        if let pixels = ds[Tag.pixelData], case let .bytes(value) = pixels.value {
            let geometry = PixelGeometry(ds, bigEndian: file.transferSyntax.bigEndian)
            let expected = geometry.totalBytes
            let padded = (expected + 1) & ~1
            if expected > 0 && value.length > padded {
                observations.append(Observation(Finding(.pixelExcessData, .high,
                    "Pixel Data held \(value.length - expected) byte(s) more than its \(geometry.frames) frame(s) need; cut off",
                    element: Tag.pixelData.description), remedy: .truncate(path, to: padded)))
            } else if expected > 0 && value.length < expected {
                observations.append(Observation(Finding(.pixelLengthMismatch, .high,
                    "Pixel Data holds \(value.length) bytes; its dimensions need \(expected)", element: Tag.pixelData.description),
                    remedy: .reject))
            } else if expected == 0 && value.length > 0 {
                observations.append(Observation(Finding(.pixelLengthMismatch, .high,
                    "Pixel Data without valid Rows, Columns or Bits Allocated", element: Tag.pixelData.description), remedy: .reject))
            }
        }
        if let pixels = ds[Tag.pixelData], case let .fragments(_, fragments) = pixels.value {
            // Every frame needs at least one fragment of its own (PS3.5 A.4).
            let frames = max(1, ds.int(Tag.numberOfFrames) ?? 1)
            if fragments.count < frames {
                observations.append(Observation(Finding(.pixelFragmentTable, .high,
                    "\(frames) frame(s) in \(fragments.count) fragment(s): each frame needs its own", element: Tag.pixelData.description),
                    remedy: .reject))
            }
        }
        if let pixels = ds[Tag.pixelData], case let .fragments(table, fragments) = pixels.value, table.bytes.length > 0 {
            let frames = max(1, ds.int(Tag.numberOfFrames) ?? 1)
            if let problem = offsetTableProblem(table, fragments, reader: reader) ?? (table.bytes.length / 4 != Int64(frames)
                ? "the Basic Offset Table has \(table.bytes.length / 4) entries for \(frames) frame(s)" : nil) {
                observations.append(Observation(Finding(.pixelFragmentTable, .high, "\(problem); replaced by an empty table",
                                                        element: Tag.pixelData.description), remedy: .emptyOffsetTable(path)))
            }
        }
        observations += iconObservations(ds, transferSyntax: file.transferSyntax, reader: reader)
        // Overlay attributes repeat in groups 6000–601E (60xx): the dictionary has ranges, no keywords.
        for group in stride(from: UInt16(0x6000), through: 0x601E, by: 2) {
            guard let data = ds[Tag(group, 0x3000)], case let .bytes(value) = data.value else { continue }
            let rows = Int64(ds.uint16(Tag(group, 0x0010), bigEndian: file.transferSyntax.bigEndian) ?? 0)
            let columns = Int64(ds.uint16(Tag(group, 0x0011), bigEndian: file.transferSyntax.bigEndian) ?? 0)
            let frames = min(max(1, Int64(ds.int(Tag(group, 0x0015)) ?? 1)), 1 << 24)
            let expected = (rows * columns * frames + 7) / 8
            let padded = (expected + 1) & ~1
            if value.length > padded {
                observations.append(Observation(Finding(.pixelExcessData, .high,
                    "Overlay Data held \(value.length - expected) byte(s) more than its size needs; cut off",
                    element: Tag(group, 0x3000).description), remedy: .truncate(ElementPath(tag: Tag(group, 0x3000)), to: padded)))
            }
        }
        return observations
    }

    /// The Icon Image Sequence's native pixels against the icon's own dimensions (THREATS.md 5):
    /// excess is cut; too few, or none, and the icon goes. Encapsulated icon pixels (PS3.3 F.7)
    /// must start like the file's transfer syntax promises, else the icon goes.
    static func iconObservations(_ ds: DataSet, transferSyntax: TransferSyntax, reader: ValueReader) -> [Observation] {
        let sequence = Tag.iconImageSequence
        guard let items = ds[sequence]?.items else { return [] }
        var observations: [Observation] = []
        for (index, item) in items.enumerated() {
            let path = ElementPath(tag: sequence).child(item: index, tag: Tag.pixelData)
            if let pixels = item.dataSet[Tag.pixelData], case let .fragments(_, fragments) = pixels.value {
                let problem = fragments.first.map { CodestreamCheck.problem(reader.head($0.bytes, 512), transferSyntax: transferSyntax) }
                    ?? "no fragment"
                if let problem {
                    observations.append(Observation(Finding(.pixelCodestreamInvalid, .medium,
                        "the icon's encapsulated Pixel Data: \(problem); the icon was removed", element: path.description),
                        remedy: .removeElement(ElementPath(tag: sequence))))
                }
                continue
            }
            guard let pixels = item.dataSet[Tag.pixelData], case let .bytes(value) = pixels.value else { continue }
            let expected = PixelGeometry(item.dataSet, bigEndian: transferSyntax.bigEndian).totalBytes
            if expected > 0 && value.length > (expected + 1) & ~1 {
                observations.append(Observation(Finding(.pixelExcessData, .high,
                    "the icon's Pixel Data held \(value.length - expected) byte(s) more than its size needs; cut off",
                    element: path.description), remedy: .truncate(path, to: (expected + 1) & ~1)))
            } else if value.length < expected || expected == 0 {
                observations.append(Observation(Finding(.pixelLengthMismatch, .medium,
                    "the icon's Pixel Data does not fit its dimensions; the icon was removed", element: path.description),
                    remedy: .removeElement(ElementPath(tag: sequence))))
            }
        }
        return observations
    }

    /// Offsets must rise and stay inside the fragments (PS3.5 A.4: offsets of each frame's first
    /// fragment item, from the first item after the table).
    static func offsetTableProblem(_ table: Fragment, _ fragments: [Fragment], reader: ValueReader) -> String? {
        guard table.bytes.length % 4 == 0 else { return "the Basic Offset Table length \(table.bytes.length) is not a multiple of 4" }
        let total = fragments.reduce(Int64(0)) { $0 + 8 + $1.bytes.length }
        let offsets = reader.head(table.bytes, Int(min(table.bytes.length, 1 << 20)))
        var previous: Int64 = -1
        var i = 0
        while i + 4 <= offsets.count {
            let offset = Int64(UInt32(offsets[i]) | UInt32(offsets[i + 1]) << 8 | UInt32(offsets[i + 2]) << 16 | UInt32(offsets[i + 3]) << 24)
            if offset >= max(total, 1) { return "the Basic Offset Table points at byte \(offset), past the \(total) bytes of fragments" }
            if offset <= previous { return "the Basic Offset Table is not ascending" }
            previous = offset
            i += 4
        }
        return nil
    }
}
