import Foundation

/// How long a sign-in waits after failures, on both browser sites: a few mistakes cost nothing, then each further
/// failure doubles the wait, up to `longest`.
public enum FailureBackoff {
    /// Seconds after the last failure before the next attempt; 0 while `failures` is within `free`.
    public static func delay(failures: Int, free: Int, longest: TimeInterval) -> TimeInterval {
        guard failures > free else { return 0 }
        return min(longest, pow(2, Double(min(failures - free, 20))))
    }
}
