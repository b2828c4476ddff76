import DICOMCore
import FileSignatures
import SessionReport

/// Checks each part on its own (THREATS.md 1, 3, 4, 5, 9): programs hidden in binary values,
/// pixel data that lies about its size, codestreams that do not start like their transfer
/// syntax says, offset tables that point outside, documents whose type does not fit.
public struct PartInspector: Sendable {
    public init() {}

    /// Findings for the parts of `file`. `read` gives the first bytes of a part (deferred parts
    /// are read from the source); it is asked for at most 64 bytes per part.
    public func inspect(_ file: DICOMFile, parts: [Part], read: (ValueBytes, Int) -> [UInt8]) -> [Finding] {
        var findings: [Finding] = []
        let dataSet = file.dataSet
        // A frame may span several fragments; only frame starts carry a codestream header. They are
        // known when there is one fragment per frame, else only the first fragment is one.
        let frameCount = max(1, dataSet.int(Tag(0x0028, 0x0008)) ?? 1)
        let fragmentCount = parts.filter { if case .fragment = $0.kind { return true }; return false }.count
        for part in parts {
            let head = read(part.bytes, 64)
            switch part.kind {
            case .element, .privateBlock, .waveform, .overlay, .icon, .trailing:
                if part.tag.map({ DataDictionary.entry(for: $0)?.vr?.isCharacterSetSensitive != true }) ?? true,
                   let program = ExecutableSignatures.match(head) {
                    findings.append(Finding("executable.embedded", .critical, "\(program.description) inside \(part.location)",
                                            element: part.tag?.description))
                }
            case let .fragment(index):
                if index == 0 || fragmentCount == frameCount {
                    if let problem = CodestreamCheck.problem(head, transferSyntax: file.transferSyntax) {
                        findings.append(Finding("pixel.codestream-invalid", .high, "\(part.location): \(problem)", element: part.tag?.description))
                    }
                }
            case .document:
                findings += DocumentCheck.findings(head, dataSet: dataSet, location: part.location)
            case .preamble, .fileMeta, .pixelFrame, .offsetTable:
                break
            }
        }
        findings += PixelCheck.findings(file, parts: parts, read: read)
        return findings
    }
}

/// The first bytes of a compressed frame must be what its transfer syntax promises (PS3.5 A.4).
enum CodestreamCheck {
    static func problem(_ head: [UInt8], transferSyntax: TransferSyntax) -> String? {
        let uid = transferSyntax.uid
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

/// Encapsulated documents: the MIME type must fit the storage class (THREATS.md 4), and the
/// content must start like that type.
enum DocumentCheck {
    static let expected: [String: (mime: String, magic: [UInt8]?)] = [
        "1.2.840.10008.5.1.4.1.1.104.1": ("application/pdf", Array("%PDF".utf8)),
        "1.2.840.10008.5.1.4.1.1.104.2": ("text/XML", Array("<".utf8)),
        "1.2.840.10008.5.1.4.1.1.104.3": ("model/stl", nil),
        "1.2.840.10008.5.1.4.1.1.104.4": ("model/obj", nil),
        "1.2.840.10008.5.1.4.1.1.104.5": ("model/mtl", nil),
    ]

    static func findings(_ head: [UInt8], dataSet: DataSet, location: String) -> [Finding] {
        var findings: [Finding] = []
        let sopClass = dataSet.string(Tags.sopClassUID) ?? ""
        let mime = dataSet.string(Tag(0x0042, 0x0012)) ?? ""
        if let program = ExecutableSignatures.match(head) {
            findings.append(Finding("document.executable", .critical, "\(location) is a \(program.description)", element: "(0042,0011)"))
        }
        if let rule = expected[sopClass] {
            if mime.lowercased() != rule.mime.lowercased() {
                findings.append(Finding("document.type-mismatch", .high, "MIME type \"\(mime)\" does not fit the storage class (expects \(rule.mime))",
                                        element: "(0042,0012)"))
            } else if let magic = rule.magic, !head.starts(with: magic) {
                findings.append(Finding("document.type-mismatch", .high, "content does not start like \(rule.mime)", element: "(0042,0011)"))
            }
        } else {
            findings.append(Finding("document.embedded", .medium, "an encapsulated document in a non-document storage class", element: "(0042,0011)"))
        }
        return findings
    }
}

/// Native Pixel Data length against Rows × Columns × Samples × Bits Allocated / 8 × Frames
/// (THREATS.md 9); overlays against their own rows and columns (THREATS.md 5); offset tables
/// inside the fragments.
enum PixelCheck {
    static func findings(_ file: DICOMFile, parts: [Part], read: (ValueBytes, Int) -> [UInt8]) -> [Finding] {
        var findings: [Finding] = []
        let ds = file.dataSet
        if let pixels = ds[Tags.pixelData], case let .bytes(value) = pixels.value {
            let rows = Int64(ds.uint16(Tag(0x0028, 0x0010)) ?? 0), columns = Int64(ds.uint16(Tag(0x0028, 0x0011)) ?? 0)
            let samples = Int64(ds.uint16(Tag(0x0028, 0x0002)) ?? 1), bits = Int64(ds.uint16(Tag(0x0028, 0x0100)) ?? 0)
            let frames = max(1, Int64(ds.int(Tag(0x0028, 0x0008)) ?? 1))
            let expected = (rows * columns * samples * bits * frames + 7) / 8
            let padded = (expected + 1) & ~1
            if expected > 0 && value.length > padded {
                findings.append(Finding("pixel.excess-data", .high, "Pixel Data holds \(value.length - expected) byte(s) more than its \(frames) frame(s) need",
                                        element: Tags.pixelData.description))
            } else if expected > 0 && value.length < expected {
                findings.append(Finding("pixel.length-mismatch", .high, "Pixel Data holds \(value.length) bytes; its dimensions need \(expected)",
                                        element: Tags.pixelData.description))
            }
        }
        if let pixels = ds[Tags.pixelData], case let .fragments(table, fragments) = pixels.value, table.bytes.length > 0 {
            let total = fragments.reduce(Int64(0)) { $0 + 8 + $1.bytes.length }
            let offsets = read(table.bytes, Int(min(table.bytes.length, 4096)))
            var i = 0
            while i + 4 <= offsets.count {
                let offset = Int64(UInt32(offsets[i]) | UInt32(offsets[i + 1]) << 8 | UInt32(offsets[i + 2]) << 16 | UInt32(offsets[i + 3]) << 24)
                if offset >= max(total, 1) {
                    findings.append(Finding("pixel.fragment-table", .high, "the Basic Offset Table points at byte \(offset), past the \(total) bytes of fragments",
                                            element: Tags.pixelData.description))
                    break
                }
                i += 4
            }
        }
        for group in stride(from: UInt16(0x6000), through: 0x601E, by: 2) {
            guard let data = ds[Tag(group, 0x3000)], case let .bytes(value) = data.value else { continue }
            let rows = Int64(ds.uint16(Tag(group, 0x0010)) ?? 0), columns = Int64(ds.uint16(Tag(group, 0x0011)) ?? 0)
            let frames = max(1, Int64(ds.int(Tag(group, 0x0015)) ?? 1))
            let expected = (rows * columns * frames + 7) / 8
            if value.length > (expected + 1) & ~1 {
                findings.append(Finding("pixel.excess-data", .high, "Overlay Data holds \(value.length - expected) byte(s) more than its size needs",
                                        element: Tag(group, 0x3000).description))
            }
        }
        return findings
    }
}
