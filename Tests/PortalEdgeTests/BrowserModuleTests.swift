import Foundation
import TestSupport
import XCTest

/// The portal's front end in headless Chromium (Tests/Browser/test_modules.py, Selenium): its modules against real
/// files, its pages and tus client against the real `dicom-portal edge` of this build, which the Python tests start
/// with their own state directory and configuration, and its catalogue and CSP rules.
final class BrowserModuleTests: XCTestCase {
    func testFrontEndInChromium() throws {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: path) {
            throw XCTSkip("\(path) is missing: install chromium and chromium-driver (scripts/install-deps)")
        }
        let binary = TestSupport.productsDirectory.appendingPathComponent("dicom-portal")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("\(binary.path) is not built: swift build --build-tests builds it")
        }
        var (python, environment) = try TestSupport.pythonWith(["selenium", "pyotp", "cryptography"])
        environment["PYTHONPATH"] = [environment["PYTHONPATH"], TestSupport.pythonPath].compactMap { $0 }.joined(separator: ":")
        environment["SE_OFFLINE"] = "true"
        environment["DICOM_PORTAL_BINARY"] = binary.path
        environment["KIOSK_TESTDATA"] = TestSupport.testDataRoot.path
        let result = try TestSupport.run(python, ["-m", "unittest", "-v", "Tests/Browser/test_modules.py"], environment: environment,
                                         currentDirectory: TestSupport.packageRoot, check: false)
        // unittest reports on stderr: one line per test, then each failure's traceback after a line of "=".
        let report = result.stderrText
        if result.status != 0 {
            let failures = report.range(of: "\n======").map { String(report[$0.lowerBound...]) } ?? report
            XCTFail("Tests/Browser/test_modules.py failed (exit \(result.status)):\n\(failures.suffix(20_000))")
        }
        let skipped = report.split(separator: "\n").filter { $0.contains("... skipped") }
        if !skipped.isEmpty { print("browser tests skipped:\n" + skipped.joined(separator: "\n")) }
    }
}
