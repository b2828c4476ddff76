import Foundation
import SessionReport

extension Receipt {
    /// Plain text for an 80 mm receipt printer: every line at most `width` columns (words wrapped,
    /// longer words cut), ASCII only, ends with "\n".
    public func text(width: Int = 42) -> String {
        let facts = facts
        var t = TextLines(width: max(width, 1))
        t.center(Receipt.title)
        t.rule("=")
        t.field("Station", station)
        t.field("Date", Receipt.timestamp(finished))
        t.field("Session", sessionID)
        if let operatorName { t.field("Operator", operatorName) }
        t.rule("-")
        t.add("LOOKUP CODE:")
        t.center(lookupCode)
        t.add(Receipt.codeNote)
        t.rule("-")

        t.add("PATIENT")
        if let expected = expectedPatient { t.add("Given at the desk: \(expected)") }
        if facts.patients.isEmpty { t.add(Receipt.noImages) }
        for patient in facts.patients {
            t.add(patient.name)
            t.add("ID \(patient.id), born \(patient.birthDate)", indent: "  ")
            for study in patient.studies {
                t.add(Receipt.studyLine(study), indent: "- ", hanging: "  ")
                t.add("Patient check: \(identity(study))", indent: "  ", hanging: "  ")
            }
        }
        if let reason = report.identityOverride { t.add("Override reason: \(reason)") }
        t.rule("-")

        t.add("FILES")
        for (label, n) in totals { t.field(label, String(n)) }
        if let routine = facts.routine { t.add(routine) }
        t.rule("-")

        t.add("WHAT WAS FOUND")
        if facts.findings.isEmpty { t.add("Nothing unusual was found.") }
        for group in facts.findings {
            t.add("\(group.sentence) (\(group.count)x, \(group.importance))", indent: "- ", hanging: "  ")
        }

        if !facts.discarded.isEmpty || facts.refused > 0 {
            t.rule("-")
            t.add("LEFT OUT AND REFUSED")
            for group in facts.discarded { t.field(group.label + " left out", String(group.count)) }
            if facts.refused > 0 {
                t.field("Refused image files", String(facts.refused))
                t.add(Receipt.refusedNote)
            }
        }
        t.rule("-")

        t.add("DELIVERY")
        t.field("Destination", report.destination ?? "none (nothing was sent)")
        t.field("Stored", String(facts.stored))
        t.field("Pending in the spool", String(facts.spooled))
        t.field("Failed (kept for IT)", String(facts.failed))
        t.rule("=")
        t.add(Receipt.footer)
        return t.lines.joined(separator: "\n") + "\n"
    }
}

/// Builds receipt lines: every string is folded to printable ASCII first (receipt printers take
/// one byte per column, and a control byte from the media could be an ESC/POS command), so
/// counting characters counts columns.
struct TextLines {
    let width: Int
    var lines: [String] = []

    mutating func rule(_ character: Character) { lines.append(String(repeating: character, count: width)) }

    mutating func center(_ text: String) {
        let text = TextLines.ascii(text).trimmingCharacters(in: .whitespaces)
        guard text.count < width else { return add(text) }
        lines.append(String(repeating: " ", count: (width - text.count) / 2) + text)
    }

    mutating func field(_ label: String, _ value: String) { add("\(label): \(value)", hanging: "  ") }

    /// Wraps words at `width`: the first line starts with `indent`, the others with `hanging`;
    /// a word longer than a line is cut.
    mutating func add(_ text: String, indent: String = "", hanging: String = "") {
        let words = TextLines.ascii(text).split(separator: " ").map(String.init)
        var prefix = indent.count < width ? indent : ""
        var line = prefix, empty = true
        func flush() {
            lines.append(line)
            prefix = hanging.count < width ? hanging : ""
            line = prefix; empty = true
        }
        for var word in words {
            if !empty {
                if line.count + 1 + word.count <= width { line += " " + word; continue }
                flush()
            }
            while line.count + word.count > width {
                let room = width - line.count
                line += word.prefix(room); word.removeFirst(room)
                flush()
            }
            if !word.isEmpty { line += word; empty = false }
        }
        if !empty { lines.append(line) }
    }

    /// Printable ASCII: accents dropped (NFKD, then combining marks removed), a few common letters
    /// and punctuation spelled out, control characters made spaces, anything else "?".
    static func ascii(_ text: String) -> String {
        var out = ""
        for scalar in text.decomposedStringWithCompatibilityMapping.unicodeScalars {
            if (0x20...0x7E).contains(scalar.value) {
                out.unicodeScalars.append(scalar)
            } else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.properties.isWhitespace {
                out += " "
            } else if scalar.properties.generalCategory == .nonspacingMark {
                continue
            } else {
                out += replacements[scalar] ?? "?"
            }
        }
        return out
    }

    static let replacements: [Unicode.Scalar: String] = [
        "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
        "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i",
        "\u{2018}": "'", "\u{2019}": "'", "\u{201C}": "\"", "\u{201D}": "\"", "\u{2010}": "-", "\u{2011}": "-",
        "\u{2013}": "-", "\u{2014}": "-", "\u{2212}": "-", "\u{2022}": "*", "\u{00B7}": "*", "\u{00D7}": "x",
        "\u{2192}": "->",
    ]
}
