import Foundation

/// The spool as a delivery sink for one destination: admitted instances are queued there and the
/// drainer sends them.
public struct SpoolSink: DeliverySink {
    public let spool: Spool
    public let destination: String
    /// Not sent until the operator has reviewed the study.
    public let held: Bool

    public var root: URL { spool.directory }

    public func stage(_ instance: AdmittedInstance,
                      write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance {
        try spool.stage(instance, destination: destination, write: write)
    }

    public func commit(_ staged: [StagedInstance]) throws -> [SinkOutcome] {
        try spool.commit(staged, destination: destination, held: held)
    }
}
