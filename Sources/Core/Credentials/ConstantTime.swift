/// Compares without an early exit, so the time taken says nothing about where bytes differ (only
/// whether the lengths do, and lengths here are public: digests, fixed-size codes).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
