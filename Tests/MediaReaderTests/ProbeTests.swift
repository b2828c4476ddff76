import Foundation
import TestSupport
import XCTest
@testable import MediaReader

final class ProbeTests: XCTestCase {
    func testISO9660() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A.TXT": [1]])
        // The name says .img: only the bytes count.
        let result = try Probe.identify(path: try kit.genisoimage(["-V", "CD_LABEL"], name: "disc.img"))
        XCTAssertEqual(result.filesystem, .iso9660)
        XCTAssertEqual(result.filesystems, [.iso9660])
        XCTAssertEqual(result.rawType, "iso9660")
        XCTAssertEqual(result.label, "CD_LABEL")
        XCTAssertEqual(result.partitions, [])
    }

    func testBridgeDiscIsBothAndPrefersUDF() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A.TXT": [1]])
        let result = try Probe.identify(path: try kit.genisoimage(["-udf", "-V", "DVD"]))
        XCTAssertEqual(result.filesystem, .udf)
        XCTAssertEqual(result.filesystems, [.udf, .iso9660])
        XCTAssertEqual(result.label, "DVD")
    }

    func testVFATAndExFAT() throws {
        let kit = try VolumeTestKit()
        let vfat = kit.temp.path("stick.iso")  // misleading name on purpose
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["-C", "-n", "USBSTICK", vfat, "8192"])
        let fat = try Probe.identify(path: vfat)
        XCTAssertEqual(fat.filesystem, .vfat)
        XCTAssertEqual(fat.label, "USBSTICK")

        let exfat = kit.temp.path("exfat.img")
        try VolumeTestKit.sparseFile(exfat, bytes: 8 << 20)
        try TestSupport.run(try TestSupport.tool("mkfs.exfat"), ["-L", "EXSTICK", exfat])
        let ex = try Probe.identify(path: exfat)
        XCTAssertEqual(ex.filesystem, .exfat)
        XCTAssertEqual(ex.rawType, "exfat")
        XCTAssertEqual(ex.label, "EXSTICK")
    }

    func testPartitionedStickListsPartitionsWithOffsets() throws {
        let kit = try VolumeTestKit()
        let image = kit.temp.path("disk.img")
        let sectors: UInt32 = 32768  // 16 MiB
        let first: UInt32 = 2048, count: UInt32 = 16384
        try VolumeTestKit.sparseFile(image, bytes: Int64(sectors) * 512)
        // MBR (no fdisk needed): one entry at 446 — status, CHS, type 0x0C (FAT32 LBA), CHS,
        // first LBA, sector count (LE) — and the 55 AA signature at 510.
        var mbr = [UInt8](repeating: 0, count: 512)
        mbr[446 + 4] = 0x0C
        for i in 0..<4 {
            mbr[446 + 8 + i] = UInt8(truncatingIfNeeded: first >> (8 * UInt32(i)))
            mbr[446 + 12 + i] = UInt8(truncatingIfNeeded: count >> (8 * UInt32(i)))
        }
        mbr[510] = 0x55; mbr[511] = 0xAA
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.write(contentsOf: Data(mbr))
        try handle.close()
        // mkfs.vfat --offset writes the file system at a sector inside the image; size in KiB.
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["--offset", "\(first)", "-n", "PART1", image, "\(count / 2)"])

        let result = try Probe.identify(path: image)
        XCTAssertNil(result.filesystem)
        XCTAssertEqual(result.partitionTable, "dos")
        XCTAssertEqual(result.partitions, [ProbeResult.Partition(number: 1, offset: Int64(first) * 512, size: Int64(count) * 512,
                                                                 filesystem: .vfat, rawType: "vfat", label: "PART1")])
    }

    func testRandomBytesHoldNothing() throws {
        let kit = try VolumeTestKit()
        let path = kit.temp.path("noise.iso")
        try Data(VolumeTestKit.pattern(1 << 20, seed: 31)).write(to: URL(fileURLWithPath: path))
        let result = try Probe.identify(path: path)
        XCTAssertNil(result.filesystem)
        XCTAssertNil(result.rawType)
        XCTAssertEqual(result.filesystems, [])
        XCTAssertEqual(result.partitions, [])
    }

    /// blkid knows no ZIP: an image file (an upload) ending with a ZIP end record is opened as an archive,
    /// whatever its name; one cut off before it is nothing.
    func testAZipArchiveIsFoundByItsEndRecord() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A.TXT": [1, 2, 3]])
        let archive = kit.temp.path("upload.bin")
        let zip = try TestSupport.run("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('A.TXT', b'abc')", archive], check: false)
        guard zip.status == 0 else { throw XCTSkip("python3 zipfile: \(zip.stderrText)") }
        XCTAssertEqual(try Probe.identify(path: archive).filesystem, .zip)
        XCTAssertTrue(try MediaSource.open(path: archive).volume is ZipVolume)

        let whole = try Data(contentsOf: URL(fileURLWithPath: archive))
        let end = try XCTUnwrap(whole.range(of: Data([0x50, 0x4B, 0x05, 0x06]), options: .backwards))
        let truncated = kit.temp.path("truncated.bin")
        try whole[..<end.lowerBound].write(to: URL(fileURLWithPath: truncated))
        XCTAssertNil(try Probe.identify(path: truncated).filesystem)
        XCTAssertThrowsError(try MediaSource.open(path: truncated))
    }

    func testTwoFileSystemSignaturesAreAmbiguous() throws {
        let kit = try VolumeTestKit()
        // An ext4 image (superblock at 1024) with a FAT boot sector written over its first sector.
        let image = kit.temp.path("both.img"), fat = kit.temp.path("fat.img")
        try VolumeTestKit.sparseFile(image, bytes: 8 << 20)
        try TestSupport.run(try TestSupport.tool("mkfs.ext4"), ["-q", image])
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["-C", fat, "8192"])
        let boot = try FileHandle(forReadingFrom: URL(fileURLWithPath: fat)).read(upToCount: 512) ?? Data()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.write(contentsOf: boot)
        try handle.close()
        XCTAssertThrowsError(try Probe.identify(path: image)) { error in
            guard case .ambiguous = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    func testDirectoryIsReportedWithoutProbing() throws {
        let kit = try VolumeTestKit()
        XCTAssertEqual(try Probe.identify(path: kit.source.path).filesystem, .directory)
    }

    func testMissingSourceIsAnIOError() {
        XCTAssertThrowsError(try Probe.identify(path: "/nonexistent/kiosk-probe")) { error in
            XCTAssertEqual(error as? MediaError, .io(operation: "open /nonexistent/kiosk-probe", errno: ENOENT))
        }
    }
}
