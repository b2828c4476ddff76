/// A configuration or destination the pipeline cannot be set up with: a usage error for the
/// command line (exit 2), a refused request for a server.
public struct SetupError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
