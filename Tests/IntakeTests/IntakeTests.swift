import DICOMCore
import Foundation
import MediaReader
import TestSupport
import XCTest
@testable import Intake

final class IntakeTests: XCTestCase {
    func testClassifiesByContentNotName() {
        var preamble = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        preamble += [0x02, 0x00, 0x00, 0x00, 0x55, 0x4C, 0x04, 0x00, 0, 0, 0, 0]
        XCTAssertEqual(ContentClassifier.classify(name: "README.TXT", prefix: preamble).kind, .dicom)
        var pe = [UInt8](repeating: 0, count: 256)
        pe[0] = 0x4D; pe[1] = 0x5A; pe[0x3C] = 0x80; pe[0x80] = 0x50; pe[0x81] = 0x45
        XCTAssertEqual(ContentClassifier.classify(name: "IM000001", prefix: pe).what, "PE executable")
        XCTAssertEqual(ContentClassifier.classify(name: "x", prefix: Array("#!/bin/sh\nrm -rf /".utf8)).kind, .executable)
        XCTAssertEqual(ContentClassifier.classify(name: "x", prefix: [0x7F, 0x45, 0x4C, 0x46, 2, 1]).kind, .executable)
        XCTAssertEqual(ContentClassifier.classify(name: "x", prefix: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]).kind, .executable)
        XCTAssertEqual(ContentClassifier.classify(name: "x", prefix: [0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0]).what, "Windows shortcut (.lnk)")
        XCTAssertEqual(ContentClassifier.classify(name: "AUTORUN.INF", prefix: Array("[AutoRun]\r\nopen=x.exe".utf8)).kind, .autorun)
        XCTAssertEqual(ContentClassifier.classify(name: "index.htm", prefix: Array("<!DOCTYPE html>".utf8)).kind, .web)
        XCTAssertEqual(ContentClassifier.classify(name: "a.pdf", prefix: Array("%PDF-1.7".utf8)).kind, .document)
        XCTAssertEqual(ContentClassifier.classify(name: "DICOMDIR", prefix: Array("hello".utf8)).kind, .other)
    }

    /// A DICOMDIR that lists a file outside the media root, one that is missing, and misses one
    /// that is there: each becomes a `dicomdir.*` finding; nothing outside the root is looked at.
    func testDICOMDIRAgainstTheMedia() throws {
        let dir = try TestSupport.TemporaryDirectory("fileset")
        let root = dir.url.appendingPathComponent("media")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("DICOM"), withIntermediateDirectories: true)
        let ct = try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")
        try FileManager.default.copyItem(at: ct, to: root.appendingPathComponent("DICOM/IM1"))
        try FileManager.default.copyItem(at: ct, to: root.appendingPathComponent("DICOM/IM2"))
        try TestSupport.writeDICOMDIR(referencing: [["DICOM", "IM1"], ["..", "..", "etc", "passwd"], ["DICOM", "IM9"]], to: root.appendingPathComponent("DICOMDIR").path)
        let volume = try DirectoryVolume(path: root.path)
        let inventory = MediaInventory(volume: volume, limits: WalkLimits())
        let bytes = [UInt8](try Data(contentsOf: root.appendingPathComponent("DICOMDIR")))
        let source = InMemoryByteSource(bytes)
        let directory = try DICOMDirectory.parse(try DICOMReader.read(source), source: source)
        let check = FileSetCheck(directories: [(try MediaPath.root.appending("DICOMDIR"), directory)], inventory: inventory,
                                 dicomPaths: ["/DICOM/IM1", "/DICOM/IM2"])
        let codes = check.findings.map(\.code.rawValue)
        XCTAssertTrue(codes.contains("dicomdir.path-traversal"), "\(check.findings)")
        XCTAssertTrue(codes.contains("dicomdir.missing-file"), "\(check.findings)")
        XCTAssertEqual(check.unlisted, ["/DICOM/IM2"])
    }
}
