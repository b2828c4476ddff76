import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import LibClamAV
@testable import Protector

/// Builds the crafted files of THREATS.md from pydicom's real test files, and runs the Protector
/// with the real libclamav engine and the project's signature set.
enum ThreatFixtures {
    static let eicar = ClamAVEngineTests.eicar
    static let engine: ClamAVEngine = try! ClamAVEngine(signatures: [ClamAVEngineTests.signatures])

    static func policy() -> ProtectorPolicy {
        ProtectorPolicy(implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST")
    }

    static func protector(_ policy: ProtectorPolicy = policy(), engines: [any MalwareEngine]? = nil) -> Protector {
        Protector(policy: policy, engines: engines ?? [engine])
    }

    static func original(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent(name)))
    }

    /// A real file, changed by `edit`, written back as Part 10 (with a zero preamble).
    static func crafted(_ name: String = "CT_small.dcm", _ edit: (inout DICOMFile) throws -> Void) throws -> [UInt8] {
        let bytes = try original(name)
        var file = try DICOMReader.read(InMemoryByteSource(bytes))
        try edit(&file)
        return try DICOMWriter.data(file, source: InMemoryByteSource(bytes),
                                    options: WriteOptions(implementationClassUID: "2.25.2", implementationVersionName: "CRAFTED"))
    }

    struct Outcome {
        let protection: Protection
        /// What would be delivered (empty when rejected).
        let delivered: [UInt8]
        var codes: [String] { protection.findings.map(\.code.rawValue) }
        var verdict: Verdict { protection.verdict }
    }

    static func protect(_ bytes: [UInt8], with protector: Protector = protector()) throws -> Outcome {
        let source = InMemoryByteSource(bytes)
        let protection = protector.protect(source)
        var delivered: [UInt8] = []
        try protector.write(protection, source: source) { delivered.append(contentsOf: $0) }
        return Outcome(protection: protection, delivered: delivered)
    }

    static func element(_ tag: Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
        DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes)))
    }

    static func text(_ string: String) -> [UInt8] {
        var bytes = Array(string.utf8)
        if bytes.count & 1 == 1 { bytes.append(0x20) }
        return bytes
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return indices.dropLast(needle.count - 1).contains { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }

    func index(of needle: [UInt8]) -> Int? {
        guard !needle.isEmpty, needle.count <= count else { return nil }
        return indices.dropLast(needle.count - 1).first { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
