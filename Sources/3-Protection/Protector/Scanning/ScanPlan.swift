import DICOMCore

/// Which parts an engine must see whole on their own, and which only by their start because the
/// scan of the whole original already holds the rest of their bytes in place (`EngineScan`).
///
/// Only a large part that is a range of the original file qualifies for the start alone, and only
/// when its start is plain binary data: anything that starts like a file type an engine treats
/// by type — every ClamAV signature target other than "any file": programs (PE, ELF, Mach-O,
/// Java), OLE2, PDF, Flash, graphics, archives, text (HTML, mail, scripts) — is scanned whole, as
/// are documents. Native pixel frames, the bulk of a disc, are what this spares a second scan.
enum ScanPlan {
    /// How much of a part's start is scanned alone: room for signatures anchored at its first byte
    /// (ClamAV's `0:` offsets, and ranges such as `MZ{58-1024}PE`), far beyond the longest.
    static let headBytes: Int64 = 64 << 10

    /// How much of the start decides the type (ClamAV looks for `%PDF` within its first 1 KiB).
    static let sniffBytes = 1024

    static func headSuffices(_ part: Part, _ source: any ByteSource) -> Bool {
        guard case let .deferred(offset, length) = part.bytes, length > headBytes, part.kind != .document,
              let start = try? source.read(at: offset, count: sniffBytes), start.count == sniffBytes else { return false }
        return !startsLikeAFile(start)
    }

    /// Magic numbers of the types libclamav recognises and scans with type-specific signatures or
    /// unpacks, and text (which it normalises); plain binary data is neither.
    static func startsLikeAFile(_ start: [UInt8]) -> Bool {
        startsLikeABinaryFile(start[...]) || looksLikeText(start)
    }

    /// The magic numbers alone, without text.
    static func startsLikeABinaryFile(_ start: ArraySlice<UInt8>) -> Bool {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            start.count >= offset + magic.count
                && start[(start.startIndex + offset)...].prefix(magic.count).elementsEqual(magic)
        }
        if magics.contains(where: { starts($0) }) || starts(tar, at: 257) { return true }
        // ClamAV takes "%PDF" anywhere in the first KiB as a PDF.
        return start.prefix(sniffBytes).indices.contains { start[$0] == 0x25 && starts(pdf, at: $0 - start.startIndex) }
    }

    private static let tar = Array("ustar".utf8)
    private static let pdf = Array("%PDF".utf8)
    private static let magics: [[UInt8]] = [
        [0x4D, 0x5A], [0x5A, 0x4D],                                   // MZ: DOS, PE
        [0x7F, 0x45, 0x4C, 0x46],                                     // ELF
        [0xFE, 0xED, 0xFA, 0xCE], [0xFE, 0xED, 0xFA, 0xCF], [0xCE, 0xFA, 0xED, 0xFE], [0xCF, 0xFA, 0xED, 0xFE],
        [0xCA, 0xFE, 0xBA, 0xBE],                                     // Mach-O universal, Java class
        [0x23, 0x21],                                                 // #! script
        [0x50, 0x4B],                                                 // ZIP, JAR, Office Open XML
        [0xD0, 0xCF, 0x11, 0xE0],                                     // OLE2: MSI, Office
        [0x52, 0x61, 0x72, 0x21], [0x37, 0x7A, 0xBC, 0xAF],           // RAR, 7-Zip
        [0x1F, 0x8B], [0x42, 0x5A, 0x68], [0xFD, 0x37, 0x7A, 0x58],   // gzip, bzip2, xz
        [0x4D, 0x53, 0x43, 0x46], [0x49, 0x54, 0x53, 0x46],           // CAB, CHM
        [0x46, 0x57, 0x53], [0x43, 0x57, 0x53], [0x5A, 0x57, 0x53],   // Flash
        [0x4C, 0x00, 0x00, 0x00],                                     // Windows shortcut
        [0xFF, 0xD8, 0xFF], [0x89, 0x50, 0x4E, 0x47], [0x47, 0x49, 0x46, 0x38],   // JPEG (JPEG-LS), PNG, GIF
        [0x49, 0x49, 0x2A, 0x00], [0x4D, 0x4D, 0x00, 0x2A], [0x42, 0x4D],         // TIFF, BMP
        [0xFF, 0x4F, 0xFF, 0x51], [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50],           // JPEG 2000
        [0xFF, 0xFE], [0xFE, 0xFF], [0xEF, 0xBB, 0xBF],               // text with a byte-order mark
    ]

    /// No NUL and nearly all printable ASCII or UTF-8: what an engine treats as text (HTML, mail, scripts).
    static func looksLikeText(_ start: [UInt8]) -> Bool {
        guard !start.contains(0) else { return false }
        let plain = start.reduce(0) { $0 + (($1 >= 0x20 && $1 < 0x7F) || $1 == 0x09 || $1 == 0x0A || $1 == 0x0D || $1 >= 0x80 ? 1 : 0) }
        return plain * 10 >= start.count * 9
    }
}
