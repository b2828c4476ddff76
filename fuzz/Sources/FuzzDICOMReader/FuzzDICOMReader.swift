import CFuzzerDriver
import DICOMCore

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzDICOMReader_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The DICOM reader on arbitrary bytes, with bounded limits; then what the Protector does with a
/// parsed file: text through its character set, and a rebuild by the writer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = InMemoryByteSource(Array(UnsafeBufferPointer(start: data, count: size)))
    var options = ParsingOptions()
    options.maxElements = 100_000
    options.maxFileSize = 1 << 24
    guard let file = try? DICOMReader.read(source, options: options) else { return 0 }
    let charset = SpecificCharacterSet(file.dataSet.strings(Tag.specificCharacterSet))
    for element in file.dataSet.elements where element.vr.isCharacterSetSensitive {
        if let text = file.dataSet.textBytes(element.tag) { _ = charset.decode(text, vr: element.vr.rawValue) }
    }
    var written = 0
    try? DICOMWriter.write(file, source: source, to: { written += $0.count },
                           options: WriteOptions(implementationClassUID: "2.25.1", implementationVersionName: "FUZZ"))
    return 0
}
