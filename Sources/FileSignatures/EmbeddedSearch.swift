/// Programs hidden inside a value, not at its start (THREATS.md 3): a PE, ELF, Mach-O, OLE/MSI,
/// shortcut, ZIP/JAR or script carried in the middle of an OB or private value. Only signatures that
/// random binary data does not produce by chance count here: a PE needs its DOS header's `e_lfanew`
/// to point at "PE\0\0", an ELF a valid class, byte order and version, a ZIP a plausible local
/// header; a bare "MZ" or 4-byte magic mid-value is not enough.
public enum EmbeddedSearch {
    /// Where the first strong signature starts in `bytes`, and what it is.
    public static func find(in bytes: [UInt8]) -> (offset: Int, signature: ExecutableSignature)? {
        guard bytes.count >= 4 else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> (Int, ExecutableSignature)? in
            var index = 0
            let end = buffer.count - 3
            while index < end {
                switch buffer[index] {
                case 0x4D, 0x7F, 0xFE, 0xCE, 0xCF, 0x23, 0xD0, 0x4C, 0x50:
                    if let signature = strong(buffer, at: index) { return (index, signature) }
                default: break
                }
                index += 1
            }
            return nil
        }
    }

    private static func strong(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> ExecutableSignature? {
        let available = b.count - i
        func at(_ k: Int) -> UInt8 { b[i + k] }
        switch b[i] {
        case 0x4D where at(1) == 0x5A && available >= 0x40:
            let lfanew = Int(at(0x3C)) | Int(at(0x3D)) << 8 | Int(at(0x3E)) << 16 | Int(at(0x3F)) << 24
            guard lfanew >= 0x40, lfanew <= available - 4 else { return nil }
            return at(lfanew) == 0x50 && at(lfanew + 1) == 0x45 && at(lfanew + 2) == 0 && at(lfanew + 3) == 0
                ? ExecutableSignature(kind: .windowsPE, description: "PE executable") : nil
        case 0x7F where available >= 7 && at(1) == 0x45 && at(2) == 0x4C && at(3) == 0x46:
            // EI_CLASS 1|2, EI_DATA 1|2, EI_VERSION 1.
            return (1...2).contains(at(4)) && (1...2).contains(at(5)) && at(6) == 1
                ? ExecutableSignature(kind: .elf, description: "ELF executable") : nil
        case 0xFE, 0xCE, 0xCF where available >= 8:
            let magic = [at(0), at(1), at(2), at(3)]
            let known: [[UInt8]] = [[0xFE, 0xED, 0xFA, 0xCE], [0xFE, 0xED, 0xFA, 0xCF], [0xCE, 0xFA, 0xED, 0xFE], [0xCF, 0xFA, 0xED, 0xFE]]
            guard known.contains(magic) else { return nil }
            // A CPU type the kernel knows (x86 7, ARM 12, PowerPC 18, with or without the 64-bit flag).
            let little = magic[0] != 0xFE
            let cpu = little ? Int(at(4)) | Int(at(7)) << 24 : Int(at(7)) | Int(at(4)) << 24
            return [7, 12, 18, 0x0100_0007, 0x0100_000C, 0x0100_0012].contains(cpu)
                ? ExecutableSignature(kind: .machO, description: "Mach-O executable") : nil
        case 0x23 where available >= 8 && at(1) == 0x21 && at(2) == 0x2F:
            // "#!/" and an absolute interpreter path ("#!/bin/sh", "#!/usr/bin/env").
            let path = (3..<min(available, 24)).prefix { at($0) != 0x20 && at($0) != 0x0A }
            return path.count >= 3 && path.allSatisfy({ (0x61...0x7A).contains(at($0)) || at($0) == 0x2F })
                ? ExecutableSignature(kind: .script, description: "script (#!)") : nil
        case 0xD0 where available >= 8:
            return [at(1), at(2), at(3), at(4), at(5), at(6), at(7)] == [0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]
                ? ExecutableSignature(kind: .oleContainer, description: "OLE compound file (MSI/Office)") : nil
        case 0x4C where available >= 20:
            // Shell link header size 0x4C and the CLSID 00021401-0000-0000-C000-000000000046.
            return [at(1), at(2), at(3), at(4), at(5), at(6), at(7)] == [0, 0, 0, 0x01, 0x14, 0x02, 0x00]
                && at(12) == 0xC0 && at(19) == 0x46
                ? ExecutableSignature(kind: .windowsShortcut, description: "Windows shortcut (.lnk)") : nil
        case 0x50 where available >= 30 && at(1) == 0x4B && at(2) == 0x03 && at(3) == 0x04:
            // Version needed ≤ 6.3, a known method, a file name length that fits.
            let version = Int(at(4)) | Int(at(5)) << 8
            let method = Int(at(8)) | Int(at(9)) << 8
            let nameLength = Int(at(26)) | Int(at(27)) << 8
            guard version <= 63, [0, 8, 9, 12, 14, 93, 95, 98, 99].contains(method), nameLength > 0, 30 + nameLength <= available else { return nil }
            let name = String(decoding: (30..<30 + nameLength).map(at), as: UTF8.self)
            return name.hasPrefix("META-INF/") || name.hasSuffix(".class")
                ? ExecutableSignature(kind: .javaArchive, description: "Java archive (JAR)")
                : ExecutableSignature(kind: .zipArchive, description: "ZIP archive")
        default:
            return nil
        }
    }
}
