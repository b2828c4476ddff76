import DICOMCore

/// Active content in encapsulated documents (THREATS.md 4): what a viewer runs or fetches when a
/// clerk or doctor opens the document. Both readers are bounded: the document is read whole only up
/// to `limit`, every object stream inflates to at most `streamLimit`, all of them to `limit`.
enum ActiveContent {
    static let limit = 64 << 20
    static let streamLimit = 16 << 20

    /// What was found, in words ("/JavaScript", "an external DTD", …); empty when nothing.
    /// A document that cannot be looked into counts as active: it is not known to be inert.
    static func pdf(_ bytes: [UInt8]) -> [String] {
        var scanner = PDFScanner()
        scanner.scan(bytes[...], objectStreams: true)
        return scanner.found
    }

    static func xml(_ bytes: [UInt8]) -> [String] {
        var scanner = XMLScanner(text: XMLScanner.decode(bytes))
        return scanner.scan()
    }
}

/// A PDF lexer that sees what a reader sees (ISO 32000-1 §7.2–7.5): comments and strings are
/// skipped, stream data is skipped by its /Length when that lands on `endstream`, else up to the
/// first `endstream`; names are compared after their #xx escapes are decoded, so /J#61vaScript is
/// /JavaScript. Object streams (/Type /ObjStm, or /N with /First) are inflated and read the same way.
struct PDFScanner {
    /// Names that make a PDF act on its own or carry another file (PDF 32000-1 §12.6, §7.11).
    static let active: [String: String] = [
        "JavaScript": "/JavaScript", "JS": "/JS (JavaScript)", "AA": "/AA (automatic actions)", "Launch": "/Launch (starts a program)",
        "EmbeddedFile": "/EmbeddedFile", "EmbeddedFiles": "/EmbeddedFiles", "FileAttachment": "/FileAttachment",
        "RichMedia": "/RichMedia (Flash, video)", "XFA": "/XFA (XML forms with scripts)", "SubmitForm": "/SubmitForm (sends data out)",
        "GoToR": "/GoToR (opens another file)", "GoToE": "/GoToE (opens an embedded file)", "ImportData": "/ImportData",
    ]

    private(set) var found: [String] = []
    private var inflated = 0

    mutating func note(_ what: String) {
        if !found.contains(what) && found.count < 20 { found.append(what) }
    }

    mutating func scan(_ bytes: ArraySlice<UInt8>, objectStreams: Bool) {
        var i = bytes.startIndex
        let end = bytes.endIndex
        // The tokens of the current object's dictionary, for deciding what its stream is.
        var names: [String] = []
        var lastInteger: Int?
        var length: Int?
        while i < end {
            let byte = bytes[i]
            switch byte {
            case 0x25: // % comment, to the end of the line
                while i < end && bytes[i] != 0x0A && bytes[i] != 0x0D { i += 1 }
            case 0x28: // ( literal string ), balanced parentheses, backslash escapes
                var depth = 0
                while i < end {
                    let c = bytes[i]
                    if c == 0x5C { i += 2; continue }
                    if c == 0x28 { depth += 1 } else if c == 0x29 { depth -= 1; if depth == 0 { break } }
                    i += 1
                }
                i += 1
            case 0x3C: // << a dictionary, or < hex string >
                if i + 1 < end && bytes[i + 1] == 0x3C {
                    i += 2
                } else {
                    while i < end && bytes[i] != 0x3E { i += 1 }
                    i += 1
                }
            case 0x2F: // /Name
                var j = i + 1
                var name: [UInt8] = []
                while j < end, !PDFScanner.isDelimiter(bytes[j]) {
                    if bytes[j] == 0x23, j + 2 < end, let high = PDFScanner.hex(bytes[j + 1]), let low = PDFScanner.hex(bytes[j + 2]) {
                        name.append(high << 4 | low)
                        j += 3
                    } else {
                        name.append(bytes[j])
                        j += 1
                    }
                }
                let text = String(decoding: name, as: UTF8.self)
                if text == "OpenAction" {
                    // A destination array opens a page; anything else is an action.
                    var k = j
                    while k < end && PDFScanner.isWhite(bytes[k]) { k += 1 }
                    if k >= end || bytes[k] != 0x5B { note("/OpenAction (an action when opened)") }
                } else if let what = PDFScanner.active[text] {
                    note(what)
                }
                if names.count < 4096 { names.append(text) }
                i = j
            default:
                if PDFScanner.isRegular(byte) {
                    var j = i
                    while j < end && PDFScanner.isRegular(bytes[j]) { j += 1 }
                    let word = bytes[i..<j]
                    if word.elementsEqual("stream".utf8) {
                        i = streamData(bytes, after: j, length: length, names: names, objectStreams: objectStreams)
                        names = []
                        length = nil
                        continue
                    }
                    if word.elementsEqual("obj".utf8) || word.elementsEqual("endobj".utf8) { names = []; length = nil }
                    if word.elementsEqual("R".utf8), names.last == "Length" { length = nil }
                    if let value = Int(String(decoding: word, as: UTF8.self)) {
                        if names.last == "Length" && lastInteger == nil { length = value }
                        lastInteger = value
                    } else {
                        lastInteger = nil
                    }
                    i = j
                } else {
                    if byte != 0x20 && byte != 0x0A && byte != 0x0D { lastInteger = nil }
                    i += 1
                }
            }
        }
    }

    /// Skips a stream's data and returns where `endstream` ends; reads an object stream's content.
    private mutating func streamData(_ bytes: ArraySlice<UInt8>, after keyword: Int, length: Int?, names: [String], objectStreams: Bool) -> Int {
        var start = keyword
        if start < bytes.endIndex && bytes[start] == 0x0D { start += 1 }
        if start < bytes.endIndex && bytes[start] == 0x0A { start += 1 }
        let marker = Array("endstream".utf8)
        var dataEnd: Int?
        if let length, length >= 0, length <= bytes.endIndex - start {
            var k = start + length
            while k < bytes.endIndex && PDFScanner.isWhite(bytes[k]) { k += 1 }
            if bytes[k...].starts(with: marker) { dataEnd = start + length }
        }
        let stop = dataEnd ?? PDFScanner.find(marker, in: bytes, from: start) ?? bytes.endIndex
        if objectStreams && isObjectStream(names) {
            objectStream(bytes[start..<stop], names: names)
        }
        guard let after = PDFScanner.find(marker, in: bytes, from: stop) else { return bytes.endIndex }
        return after + marker.count
    }

    private func isObjectStream(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).contains { $0 == "Type" && $1 == "ObjStm" } || (names.contains("N") && names.contains("First"))
    }

    /// An object stream's objects, decoded: unfiltered or FlateDecode only; anything else, a
    /// predictor, or a stream that does not inflate within the bounds is not known to be inert.
    private mutating func objectStream(_ data: ArraySlice<UInt8>, names: [String]) {
        let filters = names.drop { $0 != "Filter" }.dropFirst().prefix { $0 == "FlateDecode" || $0 == "Fl" }
        let otherFilter = names.contains("Filter") && filters.isEmpty
        if otherFilter || names.contains("Predictor") || names.contains("DecodeParms") && !filters.isEmpty && names.contains("Predictor") {
            note("an object stream whose filter cannot be inspected")
            return
        }
        guard !filters.isEmpty else { return scan(data, objectStreams: false) }
        guard filters.count == 1, inflated < ActiveContent.limit,
              let content = Inflate.zlib(Array(data), limit: Int64(min(ActiveContent.streamLimit, ActiveContent.limit - inflated))) else {
            note("an object stream that could not be inflated within bounds")
            return
        }
        inflated += content.count
        scan(content[...], objectStreams: false)
    }

    static func find(_ needle: [UInt8], in bytes: ArraySlice<UInt8>, from: Int) -> Int? {
        guard from < bytes.endIndex else { return nil }
        var i = from
        let last = bytes.endIndex - needle.count
        while i <= last {
            if bytes[i] == needle[0] && bytes[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func isWhite(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 || c == 0x0C || c == 0x00 }
    static func isDelimiter(_ c: UInt8) -> Bool { isWhite(c) || [0x28, 0x29, 0x3C, 0x3E, 0x5B, 0x5D, 0x7B, 0x7D, 0x2F, 0x25].contains(c) }
    static func isRegular(_ c: UInt8) -> Bool { !isDelimiter(c) }
    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}

/// Scripts and external references in an XML document (a CDA): what a browser or XSLT viewer would
/// run or fetch. Tags are read with their quoted attributes; values are compared after character
/// references are decoded and blanks removed, so "java&#x9;script:" is "javascript:".
struct XMLScanner {
    let text: [UInt8]
    private var found: [String] = []

    init(text: [UInt8]) { self.text = text }

    /// UTF-16 (by its byte-order mark or a zero byte beside "<") becomes UTF-8; else as is.
    static func decode(_ bytes: [UInt8]) -> [UInt8] {
        let sixteen = bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE])
            || bytes.starts(with: [0, 0x3C]) || bytes.starts(with: [0x3C, 0])
        guard sixteen, bytes.count >= 2 else { return bytes }
        let big = bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0, 0x3C])
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        for index in stride(from: 0, to: bytes.count - 1, by: 2) {
            let first = UInt16(bytes[index]), second = UInt16(bytes[index + 1])
            units.append(big ? first << 8 | second : second << 8 | first)
        }
        return Array(String(decoding: units, as: UTF16.self).utf8)
    }

    mutating func note(_ what: String) {
        if !found.contains(what) && found.count < 20 { found.append(what) }
    }

    mutating func scan() -> [String] {
        let lower = text.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
        let xinclude = PDFScanner.find(Array("http://www.w3.org/2001/xinclude".utf8), in: lower[...], from: 0) != nil
        var i = 0
        while let open = PDFScanner.find([0x3C], in: lower[...], from: i) {
            i = open + 1
            if lower[i...].starts(with: "!--".utf8) {
                i = PDFScanner.find(Array("-->".utf8), in: lower[...], from: i).map { $0 + 3 } ?? lower.count
                continue
            }
            if lower[i...].starts(with: "![cdata[".utf8) {
                i = PDFScanner.find(Array("]]>".utf8), in: lower[...], from: i).map { $0 + 3 } ?? lower.count
                continue
            }
            let close = tagEnd(lower, from: i)
            let tag = Array(lower[i..<close])
            i = close
            if tag.starts(with: "!doctype".utf8) {
                if PDFScanner.find(Array("system".utf8), in: tag[...], from: 0) != nil || PDFScanner.find(Array("public".utf8), in: tag[...], from: 0) != nil {
                    note("an external DTD")
                }
                if PDFScanner.find(Array("<!entity".utf8), in: tag[...], from: 0) != nil { note("entity declarations") }
                continue
            }
            if tag.starts(with: "!entity".utf8) { note("entity declarations"); continue }
            if tag.starts(with: "?xml-stylesheet".utf8) {
                for (name, value) in XMLScanner.attributes(tag) where name == "href" && (XMLScanner.isExternal(value) || XMLScanner.isScript(value)) {
                    note("an external stylesheet (\(XMLScanner.shown(value)))")
                }
                continue
            }
            if tag.first == 0x3F || tag.first == 0x21 || tag.first == 0x2F { continue }
            let name = String(decoding: tag.prefix { !PDFScanner.isWhite($0) && $0 != 0x2F && $0 != 0x3E }, as: UTF8.self)
            let local = name.split(separator: ":").last.map(String.init) ?? name
            if local == "script" { note("a <script> element") }
            if local == "include" && (xinclude || name.hasPrefix("xi:")) { note("an XInclude") }
            for (attribute, value) in XMLScanner.attributes(tag) {
                let localAttribute = attribute.split(separator: ":").last.map(String.init) ?? attribute
                if attribute.hasPrefix("on"), attribute.count > 2, attribute.allSatisfy(\.isLetter) {
                    note("an event handler (\(attribute))")
                } else if XMLScanner.isScript(value) {
                    note("a script URL (\(XMLScanner.shown(value)))")
                } else if ["href", "src"].contains(localAttribute) && XMLScanner.isExternal(value) {
                    note("an external reference (\(XMLScanner.shown(value)))")
                }
            }
        }
        return found
    }

    /// The end of a tag: the first ">" outside quotes (or the end of the text).
    private func tagEnd(_ lower: [UInt8], from start: Int) -> Int {
        var quote: UInt8?
        var i = start
        while i < lower.count {
            let c = lower[i]
            if let open = quote { if c == open { quote = nil } } else if c == 0x22 || c == 0x27 { quote = c } else if c == 0x3E { return i }
            i += 1
        }
        return i
    }

    /// name="value" pairs of a tag (lowercased), values with character references decoded.
    static func attributes(_ tag: [UInt8]) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var i = tag.firstIndex(where: PDFScanner.isWhite) ?? tag.count
        while i < tag.count {
            while i < tag.count && (PDFScanner.isWhite(tag[i]) || tag[i] == 0x2F || tag[i] == 0x3F) { i += 1 }
            let nameStart = i
            while i < tag.count && tag[i] != 0x3D && !PDFScanner.isWhite(tag[i]) { i += 1 }
            let name = String(decoding: tag[nameStart..<i], as: UTF8.self)
            while i < tag.count && PDFScanner.isWhite(tag[i]) { i += 1 }
            guard i < tag.count, tag[i] == 0x3D else { if i == nameStart { i += 1 }; continue }
            i += 1
            while i < tag.count && PDFScanner.isWhite(tag[i]) { i += 1 }
            guard i < tag.count else { break }
            var value: ArraySlice<UInt8>
            if tag[i] == 0x22 || tag[i] == 0x27 {
                let quote = tag[i]
                let end = tag[(i + 1)...].firstIndex(of: quote) ?? tag.count
                value = tag[(i + 1)..<end]
                i = end + 1
            } else {
                let end = tag[i...].firstIndex(where: PDFScanner.isWhite) ?? tag.count
                value = tag[i..<end]
                i = end
            }
            pairs.append((name, normalised(value)))
        }
        return pairs
    }

    /// Character references decoded, blanks and control characters removed.
    static func normalised(_ value: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        var i = value.startIndex
        while i < value.endIndex {
            if value[i] == 0x26, value[(i + 1)...].starts(with: "#".utf8), let semicolon = value[i...].prefix(12).firstIndex(of: 0x3B) {
                let body = String(decoding: value[(i + 2)..<semicolon], as: UTF8.self)
                let code = body.hasPrefix("x") ? UInt32(body.dropFirst(), radix: 16) : UInt32(body)
                if let code, let scalar = Unicode.Scalar(code) { out += Array(String(Character(scalar)).lowercased().utf8) }
                i = semicolon + 1
                continue
            }
            if value[i] > 0x20 { out.append(value[i]) }
            i += 1
        }
        return String(decoding: out.filter { $0 > 0x20 }, as: UTF8.self)
    }

    static func isScript(_ value: String) -> Bool {
        value.hasPrefix("javascript:") || value.hasPrefix("vbscript:") || value.hasPrefix("data:text/html") || value.hasPrefix("data:application/")
    }

    static func isExternal(_ value: String) -> Bool {
        ["http:", "https:", "file:", "ftp:", "//", "\\\\"].contains { value.hasPrefix($0) }
    }

    static func shown(_ value: String) -> String { value.count > 60 ? String(value.prefix(60)) + "…" : value }
}
