import XCTest

final class WebAuthnTestsPlaceholder: XCTestCase {}
