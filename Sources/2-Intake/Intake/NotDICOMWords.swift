import FileSignatures
import SessionReport

extension ContentClassifier {
    /// What a file that is not DICOM is, for people: "a Windows program (PE), not a DICOM file".
    /// `prefix` is the file's first bytes (as `classify` took them).
    public static func notDICOM(_ classification: Classification, prefix: [UInt8], size: Int64) -> String {
        if size == 0 { return "an empty file, not a DICOM file" }
        if let program = ExecutableSignatures.match(prefix) {
            let words: String = switch program.kind {
            case .windowsPE: "a Windows program (PE)"
            case .dos: "a DOS program (MZ)"
            case .elf: "a Linux program (ELF)"
            case .machO: "a macOS program (Mach-O)"
            case .machOUniversalOrJavaClass: "a macOS universal program or a Java class"
            case .script: "a script (#!)"
            case .oleContainer: "an installer or Office file (OLE)"
            case .windowsShortcut: "a Windows shortcut (.lnk)"
            case .javaArchive: "a Java program (JAR)"
            case .zipArchive: "a ZIP archive"
            }
            return words + ", not a DICOM file"
        }
        return switch classification.kind {
        case .autorun: "an autorun file (it starts a program on Windows), not a DICOM file"
        case .web: "a web page, not a DICOM file"
        default: "not a DICOM file (\(classification.what))"
        }
    }
}
