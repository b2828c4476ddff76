import CFuzzerDriver
import DICOMCore

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzDICOMDIR_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The DICOMDIR walker: offset links, loops, referenced file IDs, on arbitrary bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = InMemoryByteSource(Array(UnsafeBufferPointer(start: data, count: size)))
    var options = ParsingOptions()
    options.maxElements = 100_000
    guard let file = try? DICOMReader.read(source, options: options),
          let directory = try? DICOMDirectory.parse(file, source: source, options: options) else { return 0 }
    for record in directory.records { _ = record.referencedFileID }
    return 0
}
