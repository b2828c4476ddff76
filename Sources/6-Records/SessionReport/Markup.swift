/// Text put into HTML (the receipt, the dashboard) or XML (ATNA audit messages), element content
/// or attribute values alike: one set of rules so no page or message escapes differently.
public enum Markup {
    /// The five significant characters as entities (`'` as `&#39;`, which HTML and XML both read);
    /// tab, line feed and carriage return as character references, so an attribute value keeps
    /// them; every other control character, DEL, the C1 controls and the non-characters U+FFFE and
    /// U+FFFF (which XML cannot carry and a page should not show) as U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out += "&#\(scalar.value);"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0xFFFE...0xFFFF).contains(scalar.value):
                out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
