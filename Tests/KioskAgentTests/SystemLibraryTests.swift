import CClamAV
import CNcurses
import CUdev
import XCTest

/// The system-library targets that later stages use (libudev, libclamav, ncurses) resolve, link
/// and answer, so a missing -dev package fails here rather than in a later build.
final class SystemLibraryTests: XCTestCase {
    func testLibrariesLinkAndAnswer() throws {
        let udev = try XCTUnwrap(udev_new())
        udev_unref(udev)
        XCTAssertTrue(String(cString: cl_retver()).hasPrefix("1."))
        XCTAssertTrue(String(cString: curses_version()).contains("ncurses"))
    }
}
