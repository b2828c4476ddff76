import XCTest
@testable import MediaReader
