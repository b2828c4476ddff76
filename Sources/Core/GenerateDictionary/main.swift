// Generates, from DCMTK's dicom.dic, in Sources/Core/DICOMCore/Dictionary/:
//   DataDictionary+Generated.swift  the dictionary table (DataDictionary.table);
//   TagKeywords+Generated.swift     a `Tag` constant per single-tag entry (`Tag.patientID`).
//
//   swift run GenerateDictionary [/usr/share/libdcmtk17/dicom.dic] [table.swift] [keywords.swift]
//
// (the keywords file defaults to the table's folder). dicom.dic lines:
// "(gggg,eeee)<TAB>VR<TAB>Keyword<TAB>VM<TAB>Version", where a group or element may be a range
// "6000-60FF" (repeating groups, even numbers only). DCMTK's own VR codes map to the standard:
// ox → OB/OW, xs → US/SS, lt → OW/US/SS, px → OB/OW, up → UL, na → none (items).
// The table is written as one string literal: Swift compiles huge array literals very slowly.
//
// Keyword constants: the keyword in lower camel case, a leading acronym lowered as a whole
// (PatientID → patientID, SOPInstanceUID → sopInstanceUID, HL7InstanceIdentifier →
// hl7InstanceIdentifier). Retired entries are kept, as `retired` + keyword (RETIRED_ImageLocation
// → retiredImageLocation): hostile files still carry retired attributes, and the prefix shows it
// at the call site. Ranges (60xx overlays, 50xx curves, private and generic group lengths) get no
// constant. The constants are computed properties: thousands of `static let`s, each with its own
// lazy initializer, took three times as long to compile and twice the code.
import Foundation

let arguments = CommandLine.arguments
let input = arguments.count > 1 ? arguments[1] : "/usr/share/libdcmtk17/dicom.dic"
let output = arguments.count > 2 ? arguments[2] : "Sources/Core/DICOMCore/Dictionary/DataDictionary+Generated.swift"
let keywordsOutput = arguments.count > 3 ? arguments[3]
    : String(output[..<(output.lastIndex(of: "/").map(output.index(after:)) ?? output.startIndex)]) + "TagKeywords+Generated.swift"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
    exit(1)
}

guard let text = try? String(contentsOfFile: input, encoding: .utf8) else { fail("cannot read \(input)") }

let vrMap: [String: String] = ["ox": "OB/OW", "xs": "US/SS", "lt": "OW/US/SS", "px": "OB/OW", "up": "UL", "na": ""]

func range(_ field: Substring) -> (UInt16, UInt16)? {
    let parts = field.split(separator: "-")
    guard let low = UInt16(parts[0], radix: 16) else { return nil }
    let high = parts.count > 1 ? UInt16(parts[1], radix: 16) : low
    return high.map { (low, $0) }
}

/// The constant's name for a dicom.dic keyword (see the header).
func constantName(_ keyword: Substring) -> String {
    let retired = "RETIRED_"
    if keyword.hasPrefix(retired) { return "retired" + keyword.dropFirst(retired.count) }
    let characters = Array(keyword)
    var upper = characters.prefix { $0.isASCII && $0.isUppercase }.count
    // In "SOPInstanceUID" the run "SOPI" ends with the next word's initial, which stays upper case.
    if upper > 1, upper < characters.count, characters[upper].isLowercase { upper -= 1 }
    return String(characters[..<upper]).lowercased() + String(characters[upper...])
}

let swiftKeywords: Set<String> = [
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
    "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public", "rethrows", "static",
    "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue", "default", "defer", "do", "else",
    "fallthrough", "for", "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "as", "await",
    "false", "is", "nil", "self", "super", "throws", "true", "try", "any", "some", "consume", "copy", "discard", "each",
]

let hex = { (v: UInt16) in String(format: "%04X", v) }
var lines: [String] = []
var constants: [String] = []
var named: [String: String] = [:]
for raw in text.split(separator: "\n") where !raw.hasPrefix("#") {
    let fields = raw.split(separator: "\t", omittingEmptySubsequences: false)
    guard fields.count >= 4, fields[0].hasPrefix("("), fields[0].hasSuffix(")") else { continue }
    let tagParts = fields[0].dropFirst().dropLast().split(separator: ",")
    guard tagParts.count == 2, let group = range(tagParts[0]), let element = range(tagParts[1]) else { continue }
    let vr = vrMap[String(fields[1])] ?? String(fields[1])
    lines.append([hex(group.0), hex(group.1), hex(element.0), hex(element.1), vr, String(fields[2]), String(fields[3])]
        .joined(separator: " "))

    guard group.0 == group.1, element.0 == element.1, !fields[2].isEmpty else { continue }
    let name = constantName(fields[2])
    guard name.first.map({ $0.isLetter }) == true, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
          !swiftKeywords.contains(name) else { fail("keyword \(fields[2]) gives no usable constant name (\(name))") }
    if let other = named.updateValue(String(fields[2]), forKey: name) { fail("\(fields[2]) and \(other) both give \(name)") }
    constants.append("    public static var \(name): Tag { Tag(0x\(hex(group.0)), 0x\(hex(element.0))) }")
}

let source = input.split(separator: "/").last ?? ""
let regenerate = "swift run GenerateDictionary \(input) \(output)" + (arguments.count > 3 ? " \(keywordsOutput)" : "")
let table = """
// GENERATED by GenerateDictionary from \(source) — do not edit.
// Regenerate: \(regenerate)
// Columns: group-low group-high element-low element-high VR(s, "/"-separated) keyword VM

extension DataDictionary {
    static let table = \"\"\"
\(lines.joined(separator: "\n"))
\"\"\"
}

"""
let keywords = """
// GENERATED by GenerateDictionary from \(source) — do not edit.
// Regenerate: \(regenerate)
// One constant per single-tag dictionary entry, named after its keyword in lower camel case;
// retired entries as `retired` + keyword. Repeating groups and private tags have none.

extension Tag {
\(constants.joined(separator: "\n"))
}

"""
for (path, body, count) in [(output, table, lines.count), (keywordsOutput, keywords, constants.count)] {
    do {
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(count) entries to \(path)")
    } catch {
        fail("cannot write \(path): \(error)")
    }
}
