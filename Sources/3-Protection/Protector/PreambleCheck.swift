import FileSignatures
import SessionReport

/// The 128-byte preamble (THREATS.md 1): a file can be a Windows/Linux/macOS program and a DICOM
/// image at once (CVE-2019-11687). Every rebuilt file gets 128 zero bytes, so the check decides
/// only how the finding reads.
enum PreambleCheck {
    static func inspect(_ preamble: [UInt8], allowTIFF: Bool) -> Finding? {
        guard preamble.contains(where: { $0 != 0 }) else { return nil }
        if let program = ExecutableSignatures.match(preamble) {
            return program.kind == .script
                ? Finding(.preambleScript, .high, "the preamble starts a script (#!); replaced by zeros")
                : Finding(.preambleExecutable, .critical, "the preamble is a program header (\(program.description)); replaced by zeros")
        }
        if preamble.starts(with: [0x49, 0x49, 0x2A, 0x00]) || preamble.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return Finding(.preambleTIFF, allowTIFF ? .info : .medium,
                           "the preamble holds a TIFF header (dual-format file); replaced by zeros")
        }
        return Finding(.preambleNonzero, .low, "the preamble held unexplained non-zero bytes; replaced by zeros")
    }
}
