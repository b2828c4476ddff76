import DICOMCore
import FileSignatures
import SessionReport

/// Decides what a file on the media is from its first bytes — never from its name alone.
///
/// Names are used only to label content that is already known not to be DICOM (a `.bat` file is
/// plain text), and `autorun.inf` by name because Windows acts on the name.
public enum ContentClassifier {
    /// How many leading bytes `classify` wants (preamble + "DICM" + enough for magic numbers).
    public static let prefixLength = 4096

    public struct Classification: Sendable, Equatable {
        public var kind: FileKind
        /// What was recognised ("PE executable", "shell script", …), for the report.
        public var what: String
    }

    public static func classify(name: String, prefix: [UInt8]) -> Classification {
        if DICOMReader.looksLikeDICOM(prefix: prefix) {
            return Classification(kind: .dicom, what: "DICOM")
        }
        let lower = name.lowercased()
        if lower == "autorun.inf" || startsCaseInsensitive(prefix, with: "[autorun]") {
            return Classification(kind: .autorun, what: "autorun.inf")
        }
        if let executable = ExecutableSignatures.match(prefix), executable.isProgram {
            return Classification(kind: .executable, what: executable.description)
        }
        if let document = documentSignature(prefix) {
            return Classification(kind: .document, what: document)
        }
        if looksLikeHTML(prefix) || webExtensions.contains(fileExtension(lower)) {
            return Classification(kind: .web, what: "web content")
        }
        let ext = fileExtension(lower)
        if executableExtensions.contains(ext) {
            return Classification(kind: .executable, what: "\(ext) program or script")
        }
        if documentExtensions.contains(ext) {
            return Classification(kind: .document, what: "\(ext) document")
        }
        return Classification(kind: .other, what: "unrecognised content")
    }

    static func documentSignature(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: Array("%PDF-".utf8)) { return "PDF document" }
        if bytes.starts(with: Array("{\\rtf".utf8)) { return "RTF document" }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "JPEG image" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "PNG image" }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return "ZIP archive" }
        return nil
    }

    static func looksLikeHTML(_ bytes: [UInt8]) -> Bool {
        let head = String(decoding: bytes.prefix(512), as: UTF8.self).lowercased()
        return head.contains("<!doctype html") || head.contains("<html") || head.contains("<script")
    }

    static func startsCaseInsensitive(_ bytes: [UInt8], with text: String) -> Bool {
        let skipped = bytes.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF }
        return String(decoding: skipped.prefix(text.utf8.count), as: UTF8.self).lowercased() == text
    }

    static func fileExtension(_ lowercasedName: String) -> String {
        guard let dot = lowercasedName.lastIndex(of: "."), dot != lowercasedName.startIndex else { return "" }
        return String(lowercasedName[lowercasedName.index(after: dot)...])
    }

    static let executableExtensions: Set<String> = [
        "exe", "dll", "com", "scr", "msi", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "ps1",
        "jar", "sh", "app", "lnk", "pif", "cpl", "ocx", "sys", "drv", "hta",
    ]
    static let webExtensions: Set<String> = ["htm", "html", "css", "xhtml", "xml", "xsl", "svg"]
    static let documentExtensions: Set<String> = ["txt", "pdf", "rtf", "doc", "docx", "ini", "cfg", "ico", "bmp", "gif", "jpg", "jpeg", "png"]
}
