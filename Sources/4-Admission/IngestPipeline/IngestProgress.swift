import Foundation

/// Who is told how far a session got: the stderr line for `ingest`, the operator screen for `run`.
public protocol IngestProgress: AnyObject {
    func start(files: Int, bytes: Int64)
    func advance(bytes size: Int64)
    func finish()
}
