import Foundation
import TestSupport
import XCTest
@testable import MediaReader

/// Mutated images must give problems or errors, never a crash or a hang. Deterministic seeds.
final class ISO9660FuzzTests: XCTestCase {
    func testMutatedImagesNeverCrash() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["DICOM/ST1/SE1/IM1": VolumeTestKit.pattern(5000, seed: 41), "DICOM/ST1/SE1/IM2": [1, 2],
                           "deep/a/b/c/d/e/f/g/h/i/x.dcm": [3], "Ünïcode name.txt": [4]])
        try FileManager.default.createSymbolicLink(atPath: kit.source.appendingPathComponent("link").path, withDestinationPath: "../x")
        let variants: [(String, [String], (String) throws -> any Volume)] = [
            ("rr", ["-R", "-J"], { try ISO9660Volume(path: $0) }),
            ("joliet", ["-J", "-input-charset", "utf-8"], { try ISO9660Volume(path: $0) }),
            ("udf", ["-udf", "-input-charset", "utf-8"], { try UDFVolume(path: $0) }),
        ]
        for (name, options, open) in variants {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try kit.genisoimage(options, name: "\(name).iso"))))
            // Metadata lives in the blocks before the first file's data: mutate there.
            let metadataEnd = min(original.count, name == "udf" ? 300 * 2048 : 40 * 2048)
            var state: UInt32 = 0x9E37_79B9
            func next() -> Int { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return Int(state) }
            let path = kit.temp.path("mutant.iso")
            for _ in 0..<300 {
                var bytes = original
                for _ in 0..<(1 + next() % 8) {
                    let at = 16 * 2048 + next() % (metadataEnd - 16 * 2048)
                    bytes[at] = next() % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: next())
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                guard let volume = try? open(path) else { continue }
                let walk = VolumeTestKit.walk(volume)
                for entry in walk.entries where entry.kind == .file {
                    _ = try? volume.open(entry).readAll()
                }
            }
        }
    }
}
