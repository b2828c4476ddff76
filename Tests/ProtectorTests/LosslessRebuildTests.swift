import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// The rebuild is lossless for valid data (issue 3, part 4): over every DICOM file in pydicom's test
/// and charset files and pydicom-data's vendor images, run through the whole Protector with real
/// libclamav, no valid file is rejected, and every public element — UIDs and Pixel Data included —
/// that the Protector did not report removing is bit-identical in what would be delivered.
final class LosslessRebuildTests: XCTestCase {
    /// Files in those sets that are not valid instances, and why. Each must be rejected.
    static let invalid: [String: String] = [
        "emri_small_jpeg_2k_lossless_too_short.dcm": "truncated on purpose",
        "MR_truncated.dcm": "truncated on purpose",
        "rtplan_truncated.dcm": "truncated on purpose",
        "DICOMDIR-nooffset": "a record runs past the end of the file",
        "no_meta.dcm": "a stray byte before the first element",
        "meta_missing_tsyntax.dcm": "Pixel Data without Rows, Columns or Bits Allocated",
        "nested_priv_SQ.dcm": "Pixel Data without Rows, Columns or Bits Allocated",
    ]

    /// Files whose Study, Series (and SOP) Instance UIDs are missing or unusable: delivered with
    /// derived UIDs (`UIDRepair`), everything else bit-identical.
    static let repaired: Set<String> = [
        "bad_sequence.dcm", "chrSQEncoding.dcm", "chrSQEncoding1.dcm", "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm",
        "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm", "UN_sequence.dcm", "empty_charset_LEI.dcm",
        "no_meta_group_length.dcm", "priv_SQ.dcm",
    ]

    /// Findings a valid file must never get: a program in a part, bytes after a codestream, active content.
    static let alarms: Set<FindingCode> = [.executableEmbedded, .pixelCodestreamTrailing, .documentActiveContent]

    func testValidFilesAreDeliveredAndBitIdentical() throws {
        let roots = [try TestSupport.pydicomTestFiles(), try TestSupport.pydicomCharsetFiles(), try TestSupport.pydicomDataFiles()]
        let protector = ThreatFixtures.protector()
        var checked = 0, elements = 0
        var failures: [String] = []
        for root in roots {
            let names = try FileManager.default.subpathsOfDirectory(atPath: root.path).sorted()
            for name in names {
                let url = root.appendingPathComponent(name)
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true,
                      let bytes = try? [UInt8](Data(contentsOf: url)),
                      DICOMReader.looksLikeDICOM(prefix: Array(bytes.prefix(4096))) else { continue }
                let file = url.lastPathComponent
                let outcome = try ThreatFixtures.protect(bytes, with: protector)
                if let reason = Self.invalid[file] {
                    if outcome.verdict != .rejected { failures.append("\(file) (\(reason)) was not rejected") }
                    continue
                }
                if outcome.protection.isDirectory { continue }
                guard outcome.verdict != .rejected else {
                    failures.append("\(file) rejected: \(outcome.protection.findings.filter { $0.severity >= .medium }.map(\.code))")
                    continue
                }
                let uidRepaired = outcome.codes.contains("reconciliation.uid-replaced")
                if uidRepaired != Self.repaired.contains(file) {
                    failures.append("\(file): UIDs \(uidRepaired ? "repaired" : "not repaired")")
                }
                // No false alarms from the checks that look inside every part.
                let alarms = outcome.protection.findings.filter { Self.alarms.contains($0.code) }
                if !alarms.isEmpty { failures.append("\(file): \(alarms.map(\.detail))") }
                checked += 1
                do {
                    elements += try compare(original: bytes, outcome: outcome, failures: &failures, name: file)
                } catch {
                    failures.append("\(file): \(error)")
                }
            }
        }
        print("lossless rebuild: \(checked) valid files, \(elements) public elements bit-identical")
        XCTAssertGreaterThan(checked, 150)
        XCTAssertEqual(failures, [])
    }

    /// Every public element of the original that no part record says was removed is in the rebuild
    /// with the same bytes (a truncated value keeps its prefix). Returns how many were compared.
    private func compare(original: [UInt8], outcome: ThreatFixtures.Outcome, failures: inout [String], name: String) throws -> Int {
        let before = try DICOMReader.read(InMemoryByteSource(original))
        let after = try DICOMReader.read(InMemoryByteSource(outcome.delivered))
        let removed = Set(outcome.protection.parts.filter { $0.action == .removed }.map { Self.elementPath($0.location) })
        let truncated = Set(outcome.protection.parts.filter { $0.action == .truncated }.map { Self.elementPath($0.location) })
        let old = try Self.flatten(before, source: InMemoryByteSource(original))
        let new = try Self.flatten(after, source: InMemoryByteSource(outcome.delivered))
        // Unusable UIDs were replaced, and every reference to them with them.
        let replacedUIDs = Set([Tag.studyInstanceUID, Tag.seriesInstanceUID, Tag.sopInstanceUID].compactMap { tag in
            before.dataSet.string(tag).flatMap { UID.isUsable($0) ? nil : Array($0.utf8) }
        })
        var compared = 0
        for (path, value) in old {
            if removed.contains(path) || removed.contains(where: { path.hasPrefix($0 + "[") }) { continue }
            if replacedUIDs.contains(Array(value.prefix { $0 != 0 && $0 != 0x20 })) { continue }
            guard let rebuilt = new[path] else {
                failures.append("\(name): \(path) is missing from the rebuild")
                continue
            }
            let same = truncated.contains(path) ? value.starts(with: rebuilt) : value == rebuilt
            if !same { failures.append("\(name): \(path) changed (\(value.count) → \(rebuilt.count) bytes)") }
            compared += 1
        }
        return compared
    }

    /// `(0088,0200)[0](7FE0,0010) frame 1` → `(0088,0200)[0](7FE0,0010)`.
    static func elementPath(_ location: String) -> String {
        String(location.prefix { $0 != " " })
    }

    /// Public leaf values by path: bytes, or the offset table and fragments joined with markers.
    static func flatten(_ file: DICOMFile, source: any ByteSource) throws -> [String: [UInt8]] {
        func bytes(_ value: ValueBytes) throws -> [UInt8] {
            switch value {
            case let .inline(bytes): bytes
            case let .deferred(offset, length): try source.read(at: offset, count: Int(length))
            }
        }
        var values: [String: [UInt8]] = [:]
        var pending: [(DataSet, String)] = [(file.dataSet, "")]
        while let (dataSet, prefix) = pending.popLast() {
            for element in dataSet.elements where !element.tag.isPrivate && element.tag.element != 0 {
                let path = prefix + element.tag.description
                switch element.value {
                case let .bytes(value): values[path] = try bytes(value)
                case let .sequence(items):
                    for (index, item) in items.enumerated() { pending.append((item.dataSet, "\(path)[\(index)]")) }
                case let .fragments(table, fragments):
                    var joined = try bytes(table.bytes)
                    for fragment in fragments { joined += Array("|fragment|".utf8) + (try bytes(fragment.bytes)) }
                    values[path] = joined
                }
            }
        }
        return values
    }
}
