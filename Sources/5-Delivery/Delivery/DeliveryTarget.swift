import Foundation
import SessionReport

/// A network destination the spool drains into: C-STORE (`dicom://`, `dicoms://`), STOW-RS
/// (`dicomweb+http(s)://`) or the portal core (`portal+https://`, tus uploads: ``PortalTarget``).
public protocol DeliveryTarget: Sendable {
    /// The destination as the spool keys it (the URL as given, never with credentials).
    var destination: String { get }

    /// Sends spooled instances (files under `spool`); `report` is called once per instance.
    func deliver(_ instances: [SpooledInstance], from spool: URL,
                 report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async

    /// Checks the destination answers (C-ECHO; for DICOMweb an authenticated request), with a
    /// line saying what answered.
    func verify() async throws -> String
}

extension Spool.Result {
    /// Failed for good, with the finding code the session report will carry: senders name the code,
    /// the spool keeps its string in its table.
    public static func failed(_ code: FindingCode, reason: String) -> Spool.Result {
        .failed(code: code.rawValue, reason: reason)
    }
}

/// Told what the drainer takes and what became of it, for the audit trail (ATNA transfers).
public protocol DeliveryObserver: Sendable {
    /// Instances claimed for an attempt (their `attempts` already counts it).
    func claimed(_ instances: [SpooledInstance]) async
    /// Every result of a round, once the spool has recorded them.
    func finished(_ results: [(SpooledInstance, Spool.Result)]) async
}

/// Drains one destination's due instances from the spool through its target.
public struct SpoolDrainer: Sendable {
    public let spool: Spool
    public let target: any DeliveryTarget
    /// Instances taken per round: enough to keep every association busy.
    public var batch = 256
    public var observer: (any DeliveryObserver)?

    public init(spool: Spool, target: any DeliveryTarget, observer: (any DeliveryObserver)? = nil) {
        self.spool = spool; self.target = target; self.observer = observer
    }

    /// One round: claims what is due, sends it, records every result. Returns how many were claimed.
    /// Results are written in groups; a crash before a group is written only means those instances
    /// are sent again, which the PACS takes as the same instance.
    @discardableResult
    public func drainOnce() async throws -> Int {
        let claimed = try spool.claim(destination: target.destination, limit: batch)
        guard !claimed.isEmpty else { return 0 }
        await observer?.claimed(claimed)
        let results = ResultBuffer(spool: spool, keep: observer != nil)
        await target.deliver(claimed, from: spool.directory) { instance, result in
            await results.add(instance, result)
        }
        try await results.flush()
        if let observer { await observer.finished(await results.all) }
        return claimed.count
    }

    /// Drains until nothing is pending, or until the deadline while the destination keeps failing.
    /// `moreComing` says whether new instances may still arrive (an ingest still reading); the
    /// deadline is asked for only after that.
    /// A portal destination's session manifests are sent once the instances are (``sendManifests()``).
    public func drain(moreComing: @Sendable () -> Bool = { false }, deadline: @Sendable () -> Date) async throws {
        try await drainInstances(moreComing: moreComing, deadline: deadline)
        await sendManifests()
    }

    private func drainInstances(moreComing: @Sendable () -> Bool, deadline: @Sendable () -> Date) async throws {
        while !Task.isCancelled {
            if try await drainOnce() > 0 { continue }
            if moreComing() {
                try await Task.sleep(nanoseconds: 20_000_000)
                continue
            }
            guard let next = try spool.nextDue(destination: target.destination) else { return }
            let end = deadline()
            guard Date() < end else { return }
            let pause = max(0.02, min(min(next, end).timeIntervalSinceNow, 1))
            try await Task.sleep(nanoseconds: UInt64(pause * 1e9))
        }
    }
}

/// Results written to the spool in groups rather than a transaction per instance.
actor ResultBuffer {
    private let spool: Spool
    private var buffer: [(SpooledInstance, Spool.Result)] = []
    private let keep: Bool
    /// Every result of the round, when an observer wants them.
    private(set) var all: [(SpooledInstance, Spool.Result)] = []

    init(spool: Spool, keep: Bool = false) { self.spool = spool; self.keep = keep }

    func add(_ instance: SpooledInstance, _ result: Spool.Result) async {
        buffer.append((instance, result))
        if keep { all.append((instance, result)) }
        if buffer.count >= 64 { try? await flush() }
    }

    func flush() async throws {
        let batch = buffer
        buffer.removeAll()
        try spool.record(batch)
    }
}
