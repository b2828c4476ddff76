/// Programs hidden inside a value, not at its start (THREATS.md 3): a PE, ELF, Mach-O, OLE/MSI,
/// shortcut, ZIP/JAR or script carried anywhere in any binary part. Only signatures that random
/// binary data (pixels, codestreams, waveform samples) does not produce by chance count here: a PE
/// needs its DOS header's `e_lfanew` to point at "PE\0\0", an ELF a valid class, byte order and
/// version, a Mach-O a known CPU type, a ZIP a plausible local header, a script an interpreter in
/// a system directory; a bare "MZ" or 4-byte magic mid-value is not enough.
public enum EmbeddedSearch {
    /// Where the first strong signature starts in `bytes`, and what it is.
    public static func find(in bytes: [UInt8]) -> (offset: Int, signature: ExecutableSignature)? {
        bytes.withUnsafeBufferPointer { find(in: $0) }
    }

    public static func find(in buffer: UnsafeBufferPointer<UInt8>) -> (offset: Int, signature: ExecutableSignature)? {
        // Every signature below is at least 4 bytes long.
        guard buffer.count >= 4 else { return nil }
        let end = buffer.count - 3
        var index = 0
        // A signature is only tried where its first two bytes are: blocks of 16 bytes where no
        // byte pair could start one are passed over with vector compares (nearly every block of
        // pixel data), the rest is looked at byte by byte through a table of the pairs.
        let pairs = EmbeddedSearch.pairs
        let base = buffer.baseAddress!
        func tryAt(_ position: Int) -> ExecutableSignature? {
            let key = Int(base[position]) | Int(base[position + 1]) << 8
            return pairs[key >> 6] & (1 << UInt64(key & 63)) != 0 ? strong(buffer, at: position) : nil
        }
        let raw = UnsafeRawPointer(base)
        // One constant per byte value (a compare against a scalar is not turned into a vector compare).
        let m4D = SIMD16<UInt8>(repeating: 0x4D), m5A = SIMD16<UInt8>(repeating: 0x5A), m7F = SIMD16<UInt8>(repeating: 0x7F)
        let m45 = SIMD16<UInt8>(repeating: 0x45), mFE = SIMD16<UInt8>(repeating: 0xFE), mED = SIMD16<UInt8>(repeating: 0xED)
        let mCE = SIMD16<UInt8>(repeating: 0xCE), mFA = SIMD16<UInt8>(repeating: 0xFA), mCF = SIMD16<UInt8>(repeating: 0xCF)
        let m23 = SIMD16<UInt8>(repeating: 0x23), m21 = SIMD16<UInt8>(repeating: 0x21), mD0 = SIMD16<UInt8>(repeating: 0xD0)
        let m4C = SIMD16<UInt8>(repeating: 0x4C), m00 = SIMD16<UInt8>(repeating: 0x00), m50 = SIMD16<UInt8>(repeating: 0x50)
        let m4B = SIMD16<UInt8>(repeating: 0x4B)
        while index + 17 <= buffer.count {
            let a = raw.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
            let b = raw.loadUnaligned(fromByteOffset: index + 1, as: SIMD16<UInt8>.self)
            var pair = (a .== m4D) .& (b .== m5A)
            pair .|= (a .== m7F) .& (b .== m45)
            pair .|= (a .== mFE) .& (b .== mED)
            pair .|= (a .== mCE) .& (b .== mFA)
            pair .|= (a .== mCF) .& (b .== mFA)
            pair .|= (a .== m23) .& (b .== m21)
            pair .|= (a .== mD0) .& (b .== mCF)
            pair .|= (a .== m4C) .& (b .== m00)
            pair .|= (a .== m50) .& (b .== m4B)
            // `any(_:)` reduces element by element; the mask's 16 bytes as two words test at once.
            let words = unsafeBitCast(pair, to: (UInt64, UInt64).self)
            if words.0 | words.1 != 0 {
                for position in index..<min(index + 16, end) {
                    if let signature = tryAt(position) { return (position, signature) }
                }
            }
            index += 16
        }
        while index < end {
            if let signature = tryAt(index) { return (index, signature) }
            index += 1
        }
        return nil
    }

    /// The first two bytes of every strong signature as bits of a 64 Ki-bit table: MZ, \x7FE(LF),
    /// Mach-O in both byte orders, #!, OLE, a shortcut's 4C 00, PK.
    nonisolated(unsafe) private static let pairs: UnsafePointer<UInt64> = {
        let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 1024)
        table.initialize(repeating: 0, count: 1024)
        for (first, second) in [(0x4D, 0x5A), (0x7F, 0x45), (0xFE, 0xED), (0xCE, 0xFA), (0xCF, 0xFA), (0x23, 0x21),
                                (0xD0, 0xCF), (0x4C, 0x00), (0x50, 0x4B)] {
            let key = first | second << 8
            table[key >> 6] |= 1 << UInt64(key & 63)
        }
        return UnsafePointer(table)
    }()

    /// Each case checks that every byte it reads lies inside `b` before reading it.
    private static func strong(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> ExecutableSignature? {
        let available = b.count - i
        func at(_ k: Int) -> UInt8 { b[i + k] }
        switch b[i] {
        case 0x4D:
            guard available >= 0x40, at(1) == 0x5A else { return nil }
            let lfanew = Int(at(0x3C)) | Int(at(0x3D)) << 8 | Int(at(0x3E)) << 16 | Int(at(0x3F)) << 24
            guard lfanew >= 0x40, lfanew <= available - 4 else { return nil }
            return at(lfanew) == 0x50 && at(lfanew + 1) == 0x45 && at(lfanew + 2) == 0 && at(lfanew + 3) == 0
                ? ExecutableSignature(kind: .windowsPE, description: "PE executable") : nil
        case 0x7F:
            guard available >= 7, at(1) == 0x45, at(2) == 0x4C, at(3) == 0x46 else { return nil }
            // EI_CLASS 1|2, EI_DATA 1|2, EI_VERSION 1.
            return (1...2).contains(at(4)) && (1...2).contains(at(5)) && at(6) == 1
                ? ExecutableSignature(kind: .elf, description: "ELF executable") : nil
        case 0xFE, 0xCE, 0xCF:
            guard available >= 8 else { return nil }
            let magic = (at(0), at(1), at(2), at(3))
            let big = magic == (0xFE, 0xED, 0xFA, 0xCE) || magic == (0xFE, 0xED, 0xFA, 0xCF)
            let little = magic == (0xCE, 0xFA, 0xED, 0xFE) || magic == (0xCF, 0xFA, 0xED, 0xFE)
            guard big || little else { return nil }
            // A CPU type the kernel knows (x86 7, ARM 12, PowerPC 18, with or without the 64-bit flag).
            let cpu = little ? Int(at(4)) | Int(at(5)) << 8 | Int(at(6)) << 16 | Int(at(7)) << 24
                             : Int(at(7)) | Int(at(6)) << 8 | Int(at(5)) << 16 | Int(at(4)) << 24
            return [7, 12, 18, 0x0100_0007, 0x0100_000C, 0x0100_0012].contains(cpu)
                ? ExecutableSignature(kind: .machO, description: "Mach-O executable") : nil
        case 0x23:
            return script(b, at: i) ? ExecutableSignature(kind: .script, description: "script (#!)") : nil
        case 0xD0:
            guard available >= 8 else { return nil }
            return [at(1), at(2), at(3), at(4), at(5), at(6), at(7)] == [0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]
                ? ExecutableSignature(kind: .oleContainer, description: "OLE compound file (MSI/Office)") : nil
        case 0x4C:
            // Shell link header size 0x4C and the CLSID 00021401-0000-0000-C000-000000000046.
            guard available >= 20 else { return nil }
            return [at(1), at(2), at(3), at(4), at(5), at(6), at(7)] == [0, 0, 0, 0x01, 0x14, 0x02, 0x00]
                && at(12) == 0xC0 && at(19) == 0x46
                ? ExecutableSignature(kind: .windowsShortcut, description: "Windows shortcut (.lnk)") : nil
        case 0x50:
            guard available >= 30, at(1) == 0x4B, at(2) == 0x03, at(3) == 0x04 else { return nil }
            // Version needed ≤ 6.3, a known method, a file name length that fits.
            let version = Int(at(4)) | Int(at(5)) << 8
            let method = Int(at(8)) | Int(at(9)) << 8
            let nameLength = Int(at(26)) | Int(at(27)) << 8
            guard version <= 63, [0, 8, 9, 12, 14, 93, 95, 98, 99].contains(method), nameLength > 0, nameLength <= available - 30 else { return nil }
            let name = String(decoding: (30..<30 + nameLength).map(at), as: UTF8.self)
            return name.hasPrefix("META-INF/") || name.hasSuffix(".class")
                ? ExecutableSignature(kind: .javaArchive, description: "Java archive (JAR)")
                : ExecutableSignature(kind: .zipArchive, description: "ZIP archive")
        default:
            return nil
        }
    }

    /// "#!" (optionally one space), an absolute interpreter path in a system directory
    /// ("/bin/sh", "/usr/bin/env", "/opt/…/python"), ended by a space, tab or line end. The
    /// directory is what makes it strong: "#!/" and three letters occur in 8-bit pixels by chance.
    private static func script(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        var k = i + 2
        guard k < b.count, b[i + 1] == 0x21 else { return false }
        if b[k] == 0x20 { k += 1 }
        let directories: [[UInt8]] = [Array("/bin/".utf8), Array("/sbin/".utf8), Array("/usr/".utf8), Array("/opt/".utf8)]
        guard let directory = directories.first(where: { prefix in
            k + prefix.count <= b.count && (0..<prefix.count).allSatisfy { b[k + $0] == prefix[$0] }
        }) else { return false }
        k += directory.count
        var letters = 0
        while k < b.count, k - i < 64 {
            let byte = b[k]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { return letters >= 2 }
            guard (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2F || byte == 0x2E || byte == 0x5F || byte == 0x2D else {
                return false
            }
            letters += 1
            k += 1
        }
        return false
    }
}
