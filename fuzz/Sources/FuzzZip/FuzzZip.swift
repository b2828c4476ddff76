import CFuzzerDriver
import Foundation
@testable import MediaReader

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzZip_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The ZIP reader given an archive (an upload): walk it, then read every file it lists, which
/// inflates deflated entries and checks their CRCs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = "/dev/shm/kiosk-fuzz-zip-\(getpid()).zip"
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size)) else { return 0 }
    defer { unlink(path) }
    guard let volume = try? MediaSource.open(path: path, filesystem: .zip, offset: 0, length: nil) else { return 0 }
    var limits = WalkLimits()
    limits.maxEntries = 2_000
    limits.maxDepth = 16
    limits.maxFileSize = 64 << 20
    var files: [MediaEntry] = []
    volume.walk(limits: limits, visit: { if $0.kind == .file { files.append($0) } }, problem: { _ in })
    for entry in files.prefix(200) {
        _ = try? volume.open(entry).read(at: 0, count: Int(min(entry.size, 1 << 16)))
    }
    return 0
}
