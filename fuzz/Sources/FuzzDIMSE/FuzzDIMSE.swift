import CFuzzerDriver
import DICOMNetwork
import NIOCore

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzDIMSE_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// A C-ECHO/C-STORE response's command set, as the SCU reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? DIMSE.parse(ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size)))
    return 0
}
