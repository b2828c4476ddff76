import XCTest

final class CredentialsTestsPlaceholder: XCTestCase {}
