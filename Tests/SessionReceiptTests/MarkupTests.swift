import SessionReport
import XCTest

/// The receipt, the dashboard and the ATNA messages escape text with the same rules.
final class MarkupTests: XCTestCase {
    func testOneEscaperForPagesAndMessages() {
        XCTAssertEqual(Markup.escape("<a href=\"x\">O'Neill & Co</a>"), "&lt;a href=&quot;x&quot;&gt;O&#39;Neill &amp; Co&lt;/a&gt;")
        // Whitespace an attribute value would otherwise lose survives as references.
        XCTAssertEqual(Markup.escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d")
        // Controls, DEL, C1 controls and the non-characters XML cannot carry become U+FFFD.
        XCTAssertEqual(Markup.escape("\u{0}\u{1B}[2J\u{7F}\u{85}\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}[2J\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")
        XCTAssertEqual(Markup.escape("Müller^Jürgen 山田"), "Müller^Jürgen 山田")
        XCTAssertEqual(Markup.escape(""), "")
    }
}
