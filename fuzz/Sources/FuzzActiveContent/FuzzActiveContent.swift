import CFuzzerDriver
@testable import Protector

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzActiveContent_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The active-content scanners on arbitrary bytes. The first byte chooses: 0 a PDF, 1 a PDF whose
/// bytes are the content of an unfiltered object stream, 2 an XML document (also checked as
/// UTF-16: the same text must give the same findings). Each scan runs twice and must agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 3 {
    case 0:
        check(ActiveContent.pdf(bytes), ActiveContent.pdf(bytes))
    case 1:
        let wrapped = Array("%PDF-1.5\n1 0 obj << /Type /ObjStm /N 1 /First 0 /Length \(bytes.count) >>\nstream\n".utf8) + bytes
            + Array("\nendstream\nendobj\n%%EOF\n".utf8)
        check(ActiveContent.pdf(wrapped), ActiveContent.pdf(wrapped))
    default:
        let found = ActiveContent.xml(bytes)
        check(found, ActiveContent.xml(bytes))
        // Valid UTF-8 not read as UTF-16 says the same as UTF-16 with a byte-order mark.
        if XMLScanner.decode(bytes) == bytes, let text = String(validating: bytes, as: UTF8.self) {
            var sixteen: [UInt8] = [0xFF, 0xFE]
            for unit in text.utf16 { sixteen += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
            let again = ActiveContent.xml(sixteen)
            precondition(again == found, "UTF-16 gives \(again), UTF-8 \(found)")
        }
    }
    return 0
}

private func check(_ first: [String], _ second: [String]) {
    precondition(first == second, "two scans of the same bytes differ: \(first) and \(second)")
    precondition(first.count <= 20, "\(first.count) findings named")
}
