import Foundation
import TestSupport
import XCTest
@testable import DICOMCore

/// Lossless re-encoding as explicit VR little endian (what a PACS accepting nothing else needs),
/// checked over every big endian and implicit VR file of pydicom's test set: our reader takes the
/// result without issues, and pydicom finds every element's value — pixel samples included —
/// equal to the original's.
final class TransferSyntaxConversionTests: XCTestCase {
    private let options: WriteOptions = {
        var options = WriteOptions(implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST")
        options.transferSyntax = .explicitVRLittleEndian
        return options
    }()

    func testBigEndianAndImplicitFilesConvertWithEveryValueEqual() throws {
        let root = try TestSupport.pydicomTestFiles()
        let dir = try TestSupport.TemporaryDirectory("convert")
        var pairs: [String] = []
        var deferred = ParsingOptions()
        deferred.inlineValueLimit = 64   // large values stream from the source, and are swapped while streaming
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() where name.hasSuffix(".dcm") {
            let bytes = [UInt8](try Data(contentsOf: root.appendingPathComponent(name)))
            guard let file = try? DICOMReader.read(InMemoryByteSource(bytes)), file.issues.isEmpty,
                  !file.transferSyntax.encapsulated, file.transferSyntax.bigEndian || !file.transferSyntax.explicitVR else { continue }
            let converted: [UInt8]
            do { converted = try DICOMWriter.data(file, source: InMemoryByteSource(bytes), options: options) } catch {
                // A big endian UN value cannot be converted: the error must say so, nothing else may fail.
                guard case DICOMWriter.WriteError.unknownByteOrder = error else { throw error }
                continue
            }
            let streamed = try DICOMWriter.data(try DICOMReader.read(InMemoryByteSource(bytes), options: deferred),
                                                source: InMemoryByteSource(bytes), options: options)
            XCTAssertEqual(streamed, converted, "\(name): deferred values convert like inline ones")
            let reread = try DICOMReader.read(InMemoryByteSource(converted))
            XCTAssertEqual(reread.transferSyntax.uid, TransferSyntax.explicitVRLittleEndian.uid)
            XCTAssertEqual(reread.issues.map(\.kind), [], name)
            let out = dir.path(name)
            try Data(converted).write(to: URL(fileURLWithPath: out))
            pairs += [root.appendingPathComponent(name).path, out]
        }
        XCTAssertGreaterThanOrEqual(pairs.count / 2, 8, "big endian and implicit files in pydicom's set")
        let result = try TestSupport.python("""
            import struct, sys, pydicom
            def values(ds, prefix=""):
                out = {}
                for elem in ds:
                    key = prefix + str(elem.tag)
                    if elem.VR == "SQ":
                        for i, item in enumerate(elem.value):
                            out.update(values(item, f"{key}[{i}]"))
                    elif elem.tag == 0x7FE00010:
                        bits = ds.BitsAllocated
                        fmt = {8: "B", 16: "H", 32: "I"}[bits] if bits in (8, 16, 32) else None
                        data = elem.value
                        little = ds.is_little_endian
                        if not little and elem.VR == "OW" and bits == 8:   # OW is 16-bit words: 8-bit samples come in swapped pairs
                            data = b"".join(data[i:i + 2][::-1] for i in range(0, len(data), 2))
                        out[key] = struct.unpack(("<" if little else ">") + f"{len(data) * 8 // bits}{fmt}", data[: len(data) * 8 // bits * bits // 8]) if fmt else data
                    elif elem.VR in ("UN",) or elem.tag.is_private or elem.tag.element == 0:   # group lengths are retired and dropped
                        continue
                    else:
                        out[key] = elem.value
                return out
            bad = []
            args = sys.argv[1:]
            for original, converted in zip(args[0::2], args[1::2]):
                a = pydicom.dcmread(original); b = pydicom.dcmread(converted)
                assert b.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", converted
                va, vb = values(a), values(b)
                for key in va:
                    if key not in vb: bad.append(f"{original}: {key} missing")
                    elif va[key] != vb[key]: bad.append(f"{original}: {key} differs")
            print("\\n".join(bad[:40]))
            print(f"compared {len(args) // 2} files")
            """, pairs)
        let lines = result.stdoutText.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.dropLast(), [], "values that differ after conversion")
        print(lines.last ?? "")
    }

    func testWhatCannotBeConvertedLosslesslyIsATypedError() throws {
        let root = try TestSupport.pydicomTestFiles()
        let jpeg = [UInt8](try Data(contentsOf: root.appendingPathComponent("JPEG2000.dcm")))
        XCTAssertThrowsError(try DICOMWriter.data(try DICOMReader.read(InMemoryByteSource(jpeg)), source: InMemoryByteSource(jpeg),
                                                  options: options)) { error in
            guard case DICOMWriter.WriteError.cannotConvert = error else { return XCTFail("\(error)") }
        }
        let bigEndian = [UInt8](try Data(contentsOf: root.appendingPathComponent("MR_small_bigendian.dcm")))
        var file = try DICOMReader.read(InMemoryByteSource(bigEndian))
        file.dataSet.set(DataElement(tag: Tag(0x0019, 0x1001), vr: .UN, value: .bytes(.inline([1, 2, 3, 4]))))
        XCTAssertThrowsError(try DICOMWriter.data(file, source: InMemoryByteSource(bigEndian), options: options)) { error in
            XCTAssertEqual(error as? DICOMWriter.WriteError, .unknownByteOrder(Tag(0x0019, 0x1001)))
        }
        file.dataSet.remove(Tag(0x0019, 0x1001))
        file.dataSet.set(DataElement(tag: Tag(0x0028, 0x0106), vr: .US, value: .bytes(.inline([1, 2, 3]))))
        XCTAssertThrowsError(try DICOMWriter.data(file, source: InMemoryByteSource(bigEndian), options: options)) { error in
            XCTAssertEqual(error as? DICOMWriter.WriteError, .misalignedValue(Tag(0x0028, 0x0106), .US, 3))
        }
    }
}
