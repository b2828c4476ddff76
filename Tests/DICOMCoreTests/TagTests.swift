import XCTest
@testable import DICOMCore

final class TagTests: XCTestCase {
    func testDescriptionAndPrivacy() {
        XCTAssertEqual(Tag(0x0009, 0x1010).description, "(0009,1010)")
        XCTAssertTrue(Tag(0x0009, 0x1010).isPrivate)
        XCTAssertFalse(Tag(0x7FE0, 0x0010).isPrivate)
    }
}
