import Crypto
import Foundation
import XCTest
@testable import Delivery

/// Staged files are written with O_DIRECT in whole blocks where the file system takes it, and
/// through the page cache where it does not (tmpfs): either way the file holds exactly the bytes
/// given, whatever the sizes of the pieces they came in.
final class StagingTests: XCTestCase {
    func testEverySizeAndPieceSizeComesOutExactOnDiskAndOnTmpfs() throws {
        var places = [FileManager.default.temporaryDirectory]
        if FileManager.default.isWritableFile(atPath: "/dev/shm") { places.append(URL(fileURLWithPath: "/dev/shm")) }
        for place in places {
            let incoming = place.appendingPathComponent("staging-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: incoming) }
            let sizes = [0, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (1 << 20) + 3, 3 * (1 << 20) + 4099]
            // Distinct bytes at every position (a block written twice or out of place shows).
            let all = (0..<sizes.max()!).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
            for size in sizes {
                let bytes = Array(all[..<size])
                for piece in [1 << 20, 65_536, 4096, 1000] {
                    let staged = try Staging.write(into: incoming) { sink in
                        var offset = 0
                        while offset < bytes.count {
                            let end = min(bytes.count, offset + piece)
                            try bytes[offset..<end].withUnsafeBytes { try sink($0) }
                            offset = end
                        }
                    }
                    let written = try Data(contentsOf: staged.temporary)
                    XCTAssertEqual(written.count, size, "\(place.path): \(size) bytes in pieces of \(piece)")
                    XCTAssertEqual([UInt8](written), bytes, "\(place.path): \(size) bytes in pieces of \(piece)")
                    XCTAssertEqual(staged.size, Int64(size))
                    XCTAssertEqual(staged.sha256, SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined())
                    try FileManager.default.removeItem(at: staged.temporary)
                }
            }
        }
    }
}
