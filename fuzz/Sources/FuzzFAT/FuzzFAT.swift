import CFuzzerDriver
import Foundation
@testable import MediaReader

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzFAT_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The Swift FAT12/16/32 and exFAT readers given the image directly (no probe first, which would
/// turn most mutants away): the first byte picks the reader, the rest is the volume.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let path = "/dev/shm/kiosk-fuzz-fat-\(getpid()).img"
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data + 1, count: size - 1)) else { return 0 }
    defer { unlink(path) }
    let filesystem: FilesystemType = data[0] & 1 == 0 ? .vfat : .exfat
    guard let volume = try? MediaSource.open(path: path, filesystem: filesystem, offset: 0, length: nil) else { return 0 }
    var limits = WalkLimits()
    limits.maxEntries = 2_000
    limits.maxDepth = 16
    var files: [MediaEntry] = []
    volume.walk(limits: limits, visit: { if $0.kind == .file { files.append($0) } }, problem: { _ in })
    for entry in files.prefix(200) {
        _ = try? volume.open(entry).read(at: 0, count: Int(min(entry.size, 1 << 16)))
    }
    return 0
}
