import XCTest
@testable import MediaReader

final class MediaPathTests: XCTestCase {
    func testRejectsEscapes() {
        for bad in ["../etc/passwd", "/abs", "A//B", "A/./B", "A/../../B", "A\u{0}B", "\\\\server\\share"] {
            XCTAssertThrowsError(try MediaPath(validating: bad), bad)
        }
        XCTAssertEqual(try MediaPath(validating: "DICOM\\ST0\\IM1").description, "/DICOM/ST0/IM1")
    }
}
