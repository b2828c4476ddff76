import CFuzzerDriver
import Foundation
@testable import Delivery

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzSTOWResponse_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// A STOW-RS response body (PS3.18 DICOM JSON) read into one result per instance sent: the first
/// byte picks the HTTP status from those the reader treats differently, the rest is the body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let statuses: [UInt] = [200, 202, 409, 400, 413, 415, 401, 403, 500, 503]
    let batch = (0..<3).map { index in
        SpooledInstance(destination: "dicomweb+http://127.0.0.1/dicom-web", sopInstanceUID: "1.2.3.\(index)",
                        sopClassUID: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUID: "1.2.840.10008.1.2.1",
                        studyInstanceUID: "1.2.3", sessionID: "fuzz")
    }
    let results = STOWResponse.results(status: statuses[Int(data[0]) % statuses.count], reason: "fuzz",
                                       body: Data(bytes: data + 1, count: size - 1), batch: batch)
    precondition(results.count == batch.count, "one result per instance sent")
    return 0
}
