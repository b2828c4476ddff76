import Foundation
import TestSupport
import XCTest

/// Builds patient media the way the tests need it: a folder tree of real DICOM files (pydicom's
/// test set), the non-DICOM content discs carry, then an ISO (genisoimage) or FAT (mkfs.vfat +
/// mcopy) image of it — made by the real tools, never mounted.
enum IngestFixtures {
    /// pydicom test files that are valid, with distinct SOP Instance UIDs (several of pydicom's files
    /// are one instance in different encodings), copied under DICOM/.
    static let validFiles = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "rtplan.dcm",
                             "image_dfl.dcm", "liver_expb_1frame.dcm", "waveform_ecg.dcm", "rtdose_rle.dcm"]

    struct Tree {
        let root: URL
        /// Names of the DICOM files in the tree (relative paths).
        let dicom: [String]
    }

    /// A disc layout: DICOMDIR tree from pydicom's dicomdirtests, extra DICOM files, a "viewer".
    static func makeTree(in dir: TestSupport.TemporaryDirectory, extraDICOM: [String] = validFiles,
                         withDICOMDIR: Bool = true) throws -> Tree {
        let files = try TestSupport.pydicomTestFiles()
        let root = dir.url.appendingPathComponent("disc")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("DICOM"), withIntermediateDirectories: true)
        var dicom: [String] = []
        if withDICOMDIR {
            let tests = files.appendingPathComponent("dicomdirtests")
            try fm.copyItem(at: tests.appendingPathComponent("DICOMDIR"), to: root.appendingPathComponent("DICOMDIR"))
            for top in ["77654033", "98892001", "98892003"] {
                try fm.copyItem(at: tests.appendingPathComponent(top), to: root.appendingPathComponent(top))
            }
            let enumerator = fm.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])!
            for case let url as URL in enumerator where (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
                if url.lastPathComponent != "DICOMDIR" { dicom.append(String(url.path.dropFirst(root.path.count + 1))) }
            }
        }
        for (index, name) in extraDICOM.enumerated() where fm.fileExists(atPath: files.appendingPathComponent(name).path) {
            let target = "DICOM/EXTRA\(index)"
            try fm.copyItem(at: files.appendingPathComponent(name), to: root.appendingPathComponent(target))
            dicom.append(target)
        }
        // What a burned disc carries besides the images.
        let viewer = root.appendingPathComponent("VIEWER")
        try fm.createDirectory(at: viewer, withIntermediateDirectories: true)
        try Data(inertPE()).write(to: viewer.appendingPathComponent("VIEWER.EXE"))
        try Data("[autorun]\r\nopen=VIEWER\\VIEWER.EXE\r\n".utf8).write(to: root.appendingPathComponent("AUTORUN.INF"))
        try Data("<!DOCTYPE html><html><body>Viewer</body></html>".utf8).write(to: root.appendingPathComponent("INDEX.HTM"))
        try Data("Images for the patient.\r\n".utf8).write(to: root.appendingPathComponent("README.TXT"))
        return Tree(root: root, dicom: dicom.sorted())
    }

    /// Writes to `path` a copy of pydicom's CT_small.dcm (a GE file) with a new SOP Instance UID
    /// whose private value (0029,1001) carries EICAR, assembled here so no file holds it at rest.
    static func writeInfectedCT(to path: String) throws {
        try TestSupport.python("""
            import sys, pydicom
            ds = pydicom.dcmread(sys.argv[1])
            ds.add_new(0x00290010, "LO", "ACME 1.0")
            ds.add_new(0x00291001, "OB", (sys.argv[3] + sys.argv[4]).encode())
            ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
            ds.save_as(sys.argv[2], enforce_file_format=True)
            """, [try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm").path, path,
                  "X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"])
    }

    /// A Windows PE header stand-in: "MZ", e_lfanew → "PE\0\0", padding. Inert, not malware.
    static func inertPE() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 1024)
        bytes[0] = 0x4D; bytes[1] = 0x5A
        bytes[0x3C] = 0x80
        bytes[0x80] = 0x50; bytes[0x81] = 0x45
        return bytes
    }

    static func iso(_ tree: Tree, in dir: TestSupport.TemporaryDirectory, label: String = "PATIENT_CD") throws -> String {
        let image = dir.path("disc.iso")
        try TestSupport.run("genisoimage", ["-quiet", "-J", "-R", "-V", label, "-o", image, tree.root.path])
        return image
    }

    static func fat(_ tree: Tree, in dir: TestSupport.TemporaryDirectory, sizeKiB: Int = 32768) throws -> String {
        let image = dir.path("stick.img")
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["-C", "-n", "USBSTICK", image, String(sizeKiB)])
        let entries = try FileManager.default.contentsOfDirectory(atPath: tree.root.path).map { tree.root.appendingPathComponent($0).path }
        try TestSupport.run("mcopy", ["-s", "-i", image] + entries + ["::/"], environment: ["MTOOLS_SKIP_CHECK": "1"])
        return image
    }

    /// Runs the built `kiosk-agent` and returns its exit status, stdout and stderr.
    static func agent(_ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.ToolResult {
        let binary = TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kiosk-agent binary not built at \(binary)")
        }
        return try TestSupport.run(binary, arguments, environment: environment, check: false)
    }

    /// Starts the built `kiosk-agent` without waiting (for tests that kill it); output goes to `log`.
    /// `binary`: another build of it (the release one); default the debug build beside the tests.
    static func startAgent(_ arguments: [String], log: String, environment: [String: String] = [:], binary: String? = nil) throws -> Process {
        let binary = binary ?? TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kiosk-agent binary not built at \(binary)")
        }
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: log]) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func report(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }
}
