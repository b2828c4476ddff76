import SessionReport

/// The 128-byte preamble (THREATS.md 1): a file can be a Windows/Linux/macOS program and a DICOM
/// image at once (CVE-2019-11687). Every rebuilt file gets 128 zero bytes, so the check decides
/// only how the finding reads.
enum PreambleCheck {
    static func inspect(_ preamble: [UInt8], allowTIFF: Bool) -> Finding? {
        guard preamble.contains(where: { $0 != 0 }) else { return nil }
        if preamble.starts(with: [0x4D, 0x5A]) {
            return Finding("preamble.executable", .critical, "the preamble is a Windows (MZ/PE) program header; replaced by zeros")
        }
        if preamble.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
            return Finding("preamble.executable", .critical, "the preamble is a Linux (ELF) program header; replaced by zeros")
        }
        let machO: [[UInt8]] = [[0xFE, 0xED, 0xFA, 0xCE], [0xFE, 0xED, 0xFA, 0xCF], [0xCE, 0xFA, 0xED, 0xFE],
                                [0xCF, 0xFA, 0xED, 0xFE], [0xCA, 0xFE, 0xBA, 0xBE]]
        if machO.contains(where: { preamble.starts(with: $0) }) {
            return Finding("preamble.executable", .critical, "the preamble is a macOS (Mach-O) program header; replaced by zeros")
        }
        if preamble.starts(with: [0x23, 0x21]) {
            return Finding("preamble.script", .high, "the preamble starts a script (#!); replaced by zeros")
        }
        if preamble.starts(with: [0x49, 0x49, 0x2A, 0x00]) || preamble.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return Finding("preamble.tiff", allowTIFF ? .info : .medium,
                           "the preamble holds a TIFF header (dual-format file); replaced by zeros")
        }
        return Finding("preamble.nonzero", .low, "the preamble held unexplained non-zero bytes; replaced by zeros")
    }
}
