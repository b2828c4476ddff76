import CFuzzerDriver
import Foundation
import MediaReader

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzMedia_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// A disc or stick image as the agent opens one: probed by libblkid, then read by libcdio
/// (ISO 9660/Joliet/Rock Ridge, UDF) or the Swift FAT/exFAT readers; every file walked and read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    MediaFuzz.run(Data(bytes: data, count: size), name: "media")
}

enum MediaFuzz {
    static func run(_ image: Data, name: String) -> CInt {
        let path = "/dev/shm/kiosk-fuzz-\(name)-\(getpid()).img"
        guard FileManager.default.createFile(atPath: path, contents: image) else { return 0 }
        defer { unlink(path) }
        guard let opened = try? MediaSource.open(path: path) else { return 0 }
        var limits = WalkLimits()
        limits.maxEntries = 2_000
        limits.maxDepth = 16
        var entries: [MediaEntry] = []
        opened.volume.walk(limits: limits, visit: { entries.append($0) }, problem: { _ in })
        for entry in entries.prefix(200) where entry.kind == .file {
            guard let file = try? opened.volume.open(entry) else { continue }
            _ = try? file.read(at: 0, count: Int(min(entry.size, 1 << 16)))
        }
        return 0
    }
}
