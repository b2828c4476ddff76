import Foundation
import TestSupport
import XCTest
@testable import DICOMCore

final class CharacterSetTests: XCTestCase {
    /// Every PN/LO/SH/ST/LT value of pydicom's character-set files, decoded by us from the raw
    /// bytes, must equal pydicom's decoding (an independent implementation over Python's codecs).
    func testMatchesPydicomOnItsCharacterSetFiles() throws {
        let directory = try TestSupport.pydicomCharsetFiles()
        let result = try TestSupport.python("""
            import sys, json, glob, os, pydicom
            from pydicom.valuerep import PersonName
            out = []
            for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.dcm'))):
                ds = pydicom.dcmread(path)
                ds.decode()
                raw = pydicom.dcmread(path)
                # Decoded values from ds, raw bytes from the undecoded read.
                def pairs(a, b, cs):
                    c = a.get('SpecificCharacterSet', cs)
                    c = list(c) if isinstance(c, (list, pydicom.multival.MultiValue)) else [c]
                    for e in a:
                        if e.VR == 'SQ':
                            for x, y in zip(e.value, b[e.tag].value): pairs(x, y, c)
                        elif e.VR in ('PN', 'LO', 'SH', 'ST', 'LT') and e.value not in (None, ''):
                            r = b.get_item(e.tag).value
                            if not isinstance(r, bytes): continue
                            values = e.value if isinstance(e.value, pydicom.multival.MultiValue) else [e.value]
                            out.append({'file': os.path.basename(path), 'tag': str(e.tag), 'vr': e.VR, 'charset': c,
                                        'raw': r.hex(), 'text': '\\\\'.join(str(v) for v in values)})
                pairs(ds, raw, ['ISO_IR 6'])
            print(json.dumps(out))
            """, [directory.path])
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 40)
        var mismatches: [String] = []
        for item in cases {
            let charset = SpecificCharacterSet(item["charset"] as? [String] ?? [])
            let raw = (item["raw"] as? String ?? "").hexBytes
            let ours = charset.decode(raw, vr: item["vr"] as? String ?? "LO")
            // pydicom drops empty trailing PN groups/components ("A^B=" → "A^B"); the bytes keep them.
            let trim = CharacterSet.whitespaces.union(CharacterSet(charactersIn: item["vr"] as? String == "PN" ? "=^" : ""))
            let expected = (item["text"] as? String ?? "").trimmingCharacters(in: trim)
            if ours.trimmingCharacters(in: trim) != expected {
                mismatches.append("\(item["file"] ?? "") \(item["tag"] ?? "") \(item["charset"] ?? ""): ours \(ours) ≠ pydicom \(expected)")
            }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) of \(cases.count) values differ")
    }

    func testEscapeSequencesResetAtComponentDelimiters() {
        let charset = SpecificCharacterSet(["", "ISO 2022 IR 87"])
        // "ヤマダ^タロウ" in JIS X 0208 with ESC $ B, then back to ASCII at "^" implicitly.
        let yamada: [UInt8] = [0x1B, 0x24, 0x42, 0x25, 0x64, 0x25, 0x5E, 0x25, 0x40, 0x1B, 0x28, 0x42, 0x5E,
                               0x1B, 0x24, 0x42, 0x25, 0x3F, 0x25, 0x6D, 0x25, 0x26, 0x1B, 0x28, 0x42]
        XCTAssertEqual(charset.decode(yamada, vr: "PN"), "ヤマダ^タロウ")
        let korean = SpecificCharacterSet(["", "ISO 2022 IR 149"])
        // The designation must be repeated after "^" (it resets to the initial state).
        XCTAssertEqual(korean.decode([0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xB1, 0xE6], vr: "PN"), "홍^길")
        XCTAssertEqual(korean.decode([0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E, 0x41], vr: "PN"), "홍^A")
    }

    func testUTF8GB18030AndUnknownTerms() {
        XCTAssertEqual(SpecificCharacterSet(["ISO_IR 192"]).decode(Array("Wang^XiaoDong=王^小東".utf8), vr: "PN"), "Wang^XiaoDong=王^小東")
        XCTAssertEqual(SpecificCharacterSet(["ISO_IR 192"]).decode([0x41, 0xFF, 0x42], vr: "LO"), "A\u{FFFD}B")
        // GB18030: two-byte 王 (CD F5) and a four-byte BMP character (0x81308130 = U+0080).
        XCTAssertEqual(SpecificCharacterSet(["GB18030"]).decode([0xCD, 0xF5, 0x81, 0x30, 0x81, 0x30], vr: "PN"), "王\u{0080}")
        XCTAssertEqual(SpecificCharacterSet(["GB18030"]).decode([0x90, 0x30, 0x81, 0x30], vr: "LO"), "\u{10000}")
        let unknown = SpecificCharacterSet(["ISO_IR 999"])
        XCTAssertEqual(unknown.unknownTerms, ["ISO_IR 999"])
        XCTAssertEqual(unknown.decode([0x4A, 0xE9], vr: "LO"), "Jé")
    }

    func testPersonNameNormalisation() {
        XCTAssertEqual(PersonName("Buc^Jérôme").normalizedForMatching, PersonName("BUC^JEROME").normalizedForMatching)
        XCTAssertEqual(PersonName("Иванов^Иван").normalizedForMatching, "ivanov^ivan")
        let name = PersonName("Wang^XiaoDong=王^小東=")
        XCTAssertEqual(name.groups.count, 3)
        XCTAssertEqual(name.family, "Wang")
        XCTAssertEqual(name.given, "XiaoDong")
    }
}

extension String {
    var hexBytes: [UInt8] {
        var bytes: [UInt8] = []
        var index = startIndex
        while index < endIndex, let next = self.index(index, offsetBy: 2, limitedBy: endIndex) {
            bytes.append(UInt8(self[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}
