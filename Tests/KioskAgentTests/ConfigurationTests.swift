import XCTest
@testable import KioskAgent

final class ConfigurationTests: XCTestCase {
    func testParsesKnownKeys() throws {
        let config = try Configuration(parsing: """
            # kiosk at front desk 2
            destination = "archive:/srv/archive"   # comment
            [limits]
            max_file_size = 1_073_741_824
            max_nesting_depth = 32
            [ingest]
            workers = 2
            """)
        XCTAssertEqual(config.destination, "archive:/srv/archive")
        XCTAssertEqual(config.maxFileSize, 1 << 30)
        XCTAssertEqual(config.maxNestingDepth, 32)
        XCTAssertEqual(config.workers, 2)
    }

    func testErrorsNameTheKeyAndLine() {
        let cases: [(String, String)] = [
            ("[limits]\nmax_fiel_size = 3", "line 2: unknown key limits.max_fiel_size"),
            ("[limit]", "line 1: unknown table [limit]"),
            ("[limits]\nmax_nesting_depth = 0", "line 2: limits.max_nesting_depth must be an integer in 1...1024"),
            ("destination = archive", "line 1: destination must be a quoted string"),
            ("[ingest]\nworkers = 1\nworkers = 2", "line 3: ingest.workers set twice"),
            ("just words", "line 1: expected key = value"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try Configuration(parsing: text)) { error in
                XCTAssertEqual("\(error)", expected)
            }
        }
    }
}
