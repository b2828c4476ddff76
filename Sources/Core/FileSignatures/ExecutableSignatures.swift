/// Magic numbers of programs and of containers that carry programs (THREATS.md 1, 3, 15). Used
/// to classify files on the media and to look inside every part of a DICOM file.
public struct ExecutableSignature: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case windowsPE, dos, elf, machO, machOUniversalOrJavaClass, script, oleContainer, windowsShortcut, javaArchive, zipArchive
    }

    public let kind: Kind
    /// For reports: "PE executable", "Windows shortcut (.lnk)", …
    public let description: String

    /// A plain ZIP archive is a container, not a program by itself.
    public var isProgram: Bool { kind != .zipArchive }
}

public enum ExecutableSignatures {
    /// What the first bytes of `bytes` are, if a program or program container.
    public static func match(_ bytes: [UInt8]) -> ExecutableSignature? {
        func sig(_ kind: ExecutableSignature.Kind, _ text: String) -> ExecutableSignature { ExecutableSignature(kind: kind, description: text) }
        if bytes.starts(with: [0x4D, 0x5A]) { return isPE(bytes) ? sig(.windowsPE, "PE executable") : sig(.dos, "DOS/MZ executable") }
        if bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) { return sig(.elf, "ELF executable") }
        let machO: [[UInt8]] = [[0xFE, 0xED, 0xFA, 0xCE], [0xFE, 0xED, 0xFA, 0xCF], [0xCE, 0xFA, 0xED, 0xFE], [0xCF, 0xFA, 0xED, 0xFE]]
        if machO.contains(where: { bytes.starts(with: $0) }) { return sig(.machO, "Mach-O executable") }
        // 0xCAFEBABE is both a Mach-O universal binary and a Java class file: a program either way.
        if bytes.starts(with: [0xCA, 0xFE, 0xBA, 0xBE]) { return sig(.machOUniversalOrJavaClass, "Mach-O universal binary or Java class") }
        if bytes.starts(with: [0x23, 0x21]) { return sig(.script, "script (#!)") }
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) { return sig(.oleContainer, "OLE compound file (MSI/Office)") }
        if bytes.starts(with: [0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]) { return sig(.windowsShortcut, "Windows shortcut (.lnk)") }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            let text = String(decoding: bytes, as: UTF8.self)
            return text.contains("META-INF/") || text.contains(".class") ? sig(.javaArchive, "Java archive (JAR)") : sig(.zipArchive, "ZIP archive")
        }
        return nil
    }

    /// `e_lfanew` at 0x3C points at "PE\0\0" in a real PE file; only checked within `bytes`.
    static func isPE(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 0x40 else { return false }
        let offset = Int(bytes[0x3C]) | Int(bytes[0x3D]) << 8 | Int(bytes[0x3E]) << 16 | Int(bytes[0x3F]) << 24
        guard offset >= 0x40, offset <= bytes.count - 4 else { return false }
        return Array(bytes[offset..<offset + 4]) == [0x50, 0x45, 0, 0]
    }
}
