import CFuzzerDriver
import FileSignatures

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzEmbeddedSearch_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The embedded-program search on arbitrary bytes, read straight from libFuzzer's buffer (so
/// AddressSanitizer sees any read past its end). A find lies within the bytes, is the first one:
/// the bytes before it hold none, and the bytes from it on start with the same signature.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeBufferPointer(start: data, count: size)
    let found = EmbeddedSearch.find(in: buffer)
    let array = Array(buffer)
    let again = EmbeddedSearch.find(in: array)
    precondition(found?.offset == again?.offset && found?.signature.kind == again?.signature.kind, "two searches differ")
    guard let found else { return 0 }
    precondition(found.offset >= 0 && found.offset + 4 <= size, "found at \(found.offset) of \(size) bytes")
    precondition(EmbeddedSearch.find(in: UnsafeBufferPointer(rebasing: buffer[..<found.offset])) == nil, "an earlier signature")
    let from = EmbeddedSearch.find(in: UnsafeBufferPointer(rebasing: buffer[found.offset...]))
    precondition(from?.offset == 0 && from?.signature.kind == found.signature.kind, "not found at its own start")
    return 0
}
