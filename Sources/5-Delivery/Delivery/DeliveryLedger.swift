import Foundation

/// A record, shared by every process that delivers to the same destinations, of what each destination already
/// holds: one delivery per (destination, SOP Instance UID, content). The portal's workers keep it in their
/// database, so a batch another worker finished half-way (or the same images uploaded twice) is not sent again.
public protocol DeliveryLedger: Sendable {
    /// Of `instances` (by SOP Instance UID and the SHA-256 of the bytes to send), those already delivered.
    func delivered(_ instances: [SpooledInstance], destination: String) async throws -> Set<String>
    /// Records instances the destination has just acknowledged.
    func record(_ instances: [SpooledInstance], destination: String) async throws
}

/// A target that asks the ledger before sending and tells it after: an instance the ledger already has is
/// reported stored without being sent. When the ledger cannot be reached the instances are sent anyway: the
/// PACS takes a repeated instance as the same one, so availability wins over saving a transfer.
public struct LedgeredTarget: DeliveryTarget {
    public let inner: any DeliveryTarget
    public let ledger: any DeliveryLedger

    public init(_ inner: any DeliveryTarget, ledger: any DeliveryLedger) {
        self.inner = inner
        self.ledger = ledger
    }

    public var destination: String { inner.destination }

    public func deliver(_ instances: [SpooledInstance], from spool: URL,
                        report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async {
        let known = (try? await ledger.delivered(instances, destination: destination)) ?? []
        var rest: [SpooledInstance] = []
        for instance in instances {
            if known.contains(instance.sopInstanceUID) {
                await report(instance, .stored(detail: "already delivered (delivery ledger)"))
            } else {
                rest.append(instance)
            }
        }
        guard !rest.isEmpty else { return }
        let stored = StoredCollector()
        await inner.deliver(rest, from: spool) { instance, result in
            if case .stored = result { await stored.add(instance) }
            await report(instance, result)
        }
        // Unrecorded deliveries only cost a repeated transfer later; never fail the round for them.
        try? await ledger.record(await stored.all, destination: destination)
    }

    public func verify() async throws -> String { try await inner.verify() }
}

private actor StoredCollector {
    private(set) var all: [SpooledInstance] = []
    func add(_ instance: SpooledInstance) { all.append(instance) }
}
