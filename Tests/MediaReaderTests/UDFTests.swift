import Foundation
import TestSupport
import XCTest
@testable import MediaReader

final class UDFTests: XCTestCase {
    static let files: [String: [UInt8]] = [
        "DICOMDIR": VolumeTestKit.pattern(3000, seed: 11),
        "DICOM/ST000001/SE000001/IM000001": VolumeTestKit.pattern(300_000, seed: 12),
        "DICOM/ST000001/SE000001/IM000002": VolumeTestKit.pattern(1, seed: 13),
        "Viewer/Étude ñ.txt": Array("viewer".utf8),
        "Viewer/病院 — CJK takes UTF-16.txt": Array("cjk".utf8),
        "EMPTY": [],
    ]

    func testBridgeDiscReadsThroughUDF() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(Self.files)
        let iso = try kit.genisoimage(["-udf", "-R", "-J", "-V", "DVD_STUDY", "-input-charset", "utf-8"])
        let volume = try UDFVolume(path: iso)
        XCTAssertEqual(volume.filesystem, .udf)
        XCTAssertEqual(volume.label, "DVD_STUDY")
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems, [])
        XCTAssertEqual(Set(walk.entries.filter { $0.kind == .directory }.map(\.path.description)),
                       ["/DICOM", "/DICOM/ST000001", "/DICOM/ST000001/SE000001", "/Viewer"])
        try VolumeTestKit.assertContents(volume, walk.entries, equal: Self.files)
        // The same image read through its ISO9660 side gives the same bytes.
        let iso9660 = try ISO9660Volume(path: iso)
        try VolumeTestKit.assertContents(iso9660, VolumeTestKit.walk(iso9660).entries, equal: Self.files)

        var shallow = WalkLimits()
        shallow.maxDepth = 1
        let bounded = VolumeTestKit.walk(volume, limits: shallow)
        XCTAssertTrue(bounded.problems.contains { $0.path.description == "/DICOM" })
        XCTAssertFalse(bounded.entries.contains { $0.path.depth > 1 })
    }

    func testDirectoryPointingAtItsParentIsALoop() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A/B/INNER": [1], "A/FILE": [2], "TOP": [3]])
        let iso = try kit.genisoimage(["-udf"])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        // Point B's FID (in A's directory) at A's own File Entry.
        let a = try XCTUnwrap(UDFTests.fid(named: "A", in: image))
        let b = try XCTUnwrap(UDFTests.fid(named: "B", in: image))
        UDFTests.setICB(of: b, to: UDFTests.icb(of: a, in: image), in: &image)
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try UDFVolume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/A/B"])
        guard case .loop = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["A/FILE": [2], "TOP": [3]])
    }

    func testOversizedFIDIsRejectedBeforeLibudfWalksIt() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["SUB/VICTIM": [1], "KEEP": [2]])
        let iso = try kit.genisoimage(["-udf"])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        // L_IU (implementation use length) of VICTIM's FID → 0xFFFF: name far outside the block.
        let victim = try XCTUnwrap(UDFTests.fid(named: "VICTIM", in: image))
        image[victim + 36] = 0xFF
        image[victim + 37] = 0xFF
        UDFTests.fixTagChecksum(at: victim, in: &image)
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try UDFVolume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/SUB"])
        guard case .corrupt = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["KEEP": [2]])
    }

    func testTruncatedImageFailsOnlyTheCutFile() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["ONE": VolumeTestKit.pattern(200_000, seed: 14), "TWO": VolumeTestKit.pattern(200_000, seed: 15)]
        try kit.writeTree(files)
        let iso = try kit.genisoimage(["-udf"])
        // Cut in the middle of the file stored last (from the ISO9660 side, which shares the extents).
        let entries = VolumeTestKit.walk(try ISO9660Volume(path: iso)).entries
        let last = try XCTUnwrap(entries.max { $0.locator.start < $1.locator.start })
        XCTAssertEqual(truncate(iso, off_t(last.locator.start + last.size / 2)), 0)
        // The image still holds the UDF descriptors (the anchor at block 256 sits before the data).
        let volume = try UDFVolume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.name), [last.path.name])
        guard case .shortRead = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        let other = last.path.name == "ONE" ? "TWO" : "ONE"
        try VolumeTestKit.assertContents(volume, walk.entries, equal: [other: files[other]!])
    }

    /// mkudffs (UDF 1.02) stores the empty root inside its File Entry: libudf cannot list such a
    /// directory, which is reported as a problem, not a crash or a silent empty volume.
    func testDirectoryEmbeddedInItsEntryIsReportedUnsupported() throws {
        let kit = try VolumeTestKit()
        let path = kit.temp.path("blank.udf")
        try VolumeTestKit.sparseFile(path, bytes: 20 << 20)
        try TestSupport.run(try TestSupport.tool("mkudffs"),
                            ["--media-type=dvd", "--blocksize=2048", "--udfrev=0x0102", "--label=BLANK", path])
        XCTAssertEqual(try Probe.identify(path: path).filesystem, .udf)
        let volume = try UDFVolume(path: path)
        XCTAssertEqual(volume.label, "BLANK")
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.entries, [])
        XCTAssertEqual(walk.problems.map(\.path), [.root])
        guard case .unsupported = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
    }

    func testPlainISOIsNotUDF() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A.TXT": [1]])
        XCTAssertThrowsError(try UDFVolume(path: try kit.genisoimage([]))) { error in
            guard case .unsupported = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    func testRootEntryWithHugeExtendedAttributeLengthIsRejectedBeforeLibudf() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A": [1]])
        let iso = try kit.genisoimage(["-udf"])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let root = UDFTests.rootEntryOffset(image)
        // L_EA at [168]: libudf would add it to a pointer into a 2 KiB buffer.
        image.replaceSubrange((root + 168)..<(root + 172), with: [0xFF, 0xFF, 0xFF, 0x7F])
        UDFTests.fixTagChecksum(at: root, in: &image)
        try image.write(to: URL(fileURLWithPath: iso))
        XCTAssertThrowsError(try UDFVolume(path: iso)) { error in
            guard case .corrupt = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    /// Anchor (block 256) → volume descriptor sequence → partition start and file set → root ICB.
    static func rootEntryOffset(_ image: Data) -> Int {
        let bytes = [UInt8](image)
        var lba = Int(UDF.le32(bytes, 256 * 2048 + 20))
        var partitionStart: Int?, fileSet: Int?
        while partitionStart == nil || fileSet == nil {
            let at = lba * 2048
            if UDF.le16(bytes, at) == 5 { partitionStart = Int(UDF.le32(bytes, at + 188)) }
            if UDF.le16(bytes, at) == 6 { fileSet = Int(UDF.le32(bytes, at + 252)) }
            lba += 1
        }
        let fsd = (partitionStart! + fileSet!) * 2048
        return (partitionStart! + Int(UDF.le32(bytes, fsd + 404))) * 2048
    }

    // ECMA-167 FID: tag id 0x0101 at +0, checksum at +4, L_FI at +19, ICB LBA at +24, L_IU at +36,
    // name (compression id 8 + bytes) at 38 + L_IU. Directories here are small: search the image.
    static func fid(named name: String, in image: Data) -> Int? {
        let bytes = [UInt8](image)
        var offset = 0
        while offset + 40 < bytes.count {
            if bytes[offset] == 0x01, bytes[offset + 1] == 0x01, UDF.hasTag(bytes, at: offset, id: UDF.tagFID) {
                let nameLength = Int(bytes[offset + 19])
                let start = offset + 38 + Int(UDF.le16(bytes, offset + 36))
                if nameLength == name.utf8.count + 1, bytes[start] == 8,
                   bytes[(start + 1)..<(start + nameLength)].elementsEqual(name.utf8) {
                    return offset
                }
            }
            offset += 4
        }
        return nil
    }

    static func icb(of fid: Int, in image: Data) -> [UInt8] { [UInt8](image[(fid + 20)..<(fid + 36)]) }

    static func setICB(of fid: Int, to icb: [UInt8], in image: inout Data) {
        image.replaceSubrange((fid + 20)..<(fid + 36), with: icb)
        fixTagChecksum(at: fid, in: &image)
    }

    /// The tag checksum covers only the 16-byte tag; libudf does not check the CRC.
    static func fixTagChecksum(at offset: Int, in image: inout Data) {
        var sum: UInt8 = 0
        for index in 0..<16 where index != 4 { sum &+= image[offset + index] }
        image[offset + 4] = sum
    }
}
